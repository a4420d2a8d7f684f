"""`lmarenarev doctor`'s report and its bundle's redaction (pure); the live checks are in
tests/integration/test_doctor.py and tests/e2e/test_lmarena_changes_e2e.py."""

from __future__ import annotations

from pathlib import Path

from lmarenarev.arena.requests import CreateCall, Recaptcha
from lmarenarev.cli.doctor import report, save
from lmarenarev.cli.render import status
from lmarenarev.ops.doctor_bundle import Bundle, safe_body, safe_headers
from lmarenarev.workers.jobs import Data, Status


def step(name: str, state: str = "ok", **extra: object) -> dict[str, object]:
    return {"name": name, "status": state, "summary": f"{name} fine", "reason": "",
            "hint": "", "notes": [], **extra}


def test_the_report_says_ok_failed_why_and_what_to_try() -> None:
    answer = {"ok": False, "steps": [
        step("gateway"),
        step("chat", "failed", reason="LMArena refused the reCAPTCHA token",
             hint="reload the tab"),
        step("regenerate", "skipped", reason="the chat did not get through"),
        step("drift", notes=["fields this version does not know: x"]),
    ]}
    lines = report(answer, "http://127.0.0.1:5102")
    assert lines[0] == "lmarenarev doctor: http://127.0.0.1:5102"
    assert "  ok      gateway    gateway fine" in lines
    assert "  FAILED  chat       LMArena refused the reCAPTCHA token" in lines
    assert any(line.strip() == "try: reload the tab" for line in lines)
    assert "  skipped regenerate the chat did not get through" in lines
    assert any(line.strip() == "note: fields this version does not know: x" for line in lines)
    assert lines[-1] == "1 of 4 checks failed: chat."
    assert report({"ok": True, "steps": [step("a"), step("b")]}, "u")[-1] == "All 2 checks passed."


def test_the_bundle_keeps_no_cookie_token_or_authorization(tmp_path: Path) -> None:
    headers = {"content-type": "text/plain", "set-cookie": "arena-auth-prod-v1=x",
               "x-recaptcha-token": "03A", "authorization": "Bearer x", "cf-ray": "1"}
    assert safe_headers(headers) == {"content-type": "text/plain", "cf-ray": "1"}
    assert safe_body({"id": "1", "recaptchaV3Token": "03Asecret"}) == {
        "id": "1", "recaptchaV3Token": "<redacted>"}
    bundle = Bundle("9.9")
    request = CreateCall("m", "text", "hi", (), Recaptcha("k" * 20, "chat_submit")).build()
    request.body["recaptchaV3Token"] = "03Asecret"
    bundle.step = "chat"
    bundle.tap(request, Status(200, {"set-cookie": "secret", "content-type": "text/plain"}))
    bundle.tap(request, Data('a0:"OK"\nad:{}\n'))
    described = bundle.describe([step("chat")])
    save(tmp_path, {"ok": True, "steps": [step("chat")], "bundle": described}, "report")
    saved = (tmp_path / "doctor.json").read_text("utf-8")
    assert "secret" not in saved and "03A" not in saved
    (stream,) = described["streams"]
    assert stream["records"] == ['a0:"OK"', "ad:{}", ""] and stream["status"] == 200
    assert bundle.records_of("chat") == 2
    assert (tmp_path / "doctor.txt").read_text("utf-8") == "report\n"


def test_status_shows_accounts_resting_tabs_learned_values_and_drift() -> None:
    worker = {"id": "w1", "transport": "websocket", "jobs": 0, "capacity": 6,
              "script_version": "1", "page_url": "https://arena.ai/text/direct",
              "script_outdated": False, "reloading": False, "resting_seconds": 120,
              "resting_reason": "429 prompt failed (account quota)",
              "account": {"state": "logged_in", "pulse": 40}}
    site = {"configured": {"mode": "direct-battle", "modality": {"text": "chat"}},
            "learned": {"https://arena.ai": {"mode": "direct"}},
            "drift": {"unknown_record_prefixes": {"ax": 3}, "unknown_catalog_fields": {},
                      "refused_values": {"mode=direct-battle": 1}}}
    data = {"uptime_seconds": 5, "version": "1", "pid": 1, "flow": "modern", "home": "/h",
            "workers": [worker], "capture_armed": False,
            "ids": {"session_id": None, "mode": "direct_chat", "battle_target": "A"},
            "endpoint_map": {"strategy": "random", "models": {}},
            "models": {"configured": [], "offered": 0, "withdrawn": [],
                       "expose_available_models": False,
                       "catalog": {"count": 0, "updated_at": None, "last_error": None}},
            "site": site, "errors": []}
    text = "\n".join(status(data, "http://gw", now=10))
    assert "logged in, pulse 40" in text and "(resting 2m 0s: 429 prompt failed" in text
    assert "learned https://arena.ai: mode=direct" in text
    assert "Drift     unknown record prefixes: ax ×3; refused values: mode=direct-battle ×1" \
        in text
