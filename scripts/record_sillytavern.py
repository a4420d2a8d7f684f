"""Record SillyTavern's chat-completion request bodies as fixtures (tests/fixtures/sillytavern).

SillyTavern builds its prompts in the browser, so its own UI is driven in headless Chromium
against a stand-in OpenAI endpoint that records every body and answers
"Reply <n>: *smiles* Hello there, traveller." (streamed when asked). How the fixtures were made:

    npm pack sillytavern && tar xzf sillytavern-*.tgz && cd package
    npm install --omit=dev
    node server.js --port 8123        # once, to create data/default-user; stop it again
    python scripts/record_sillytavern.py --sillytavern path/to/package

The script points the default user at the recorder (Chat Completion, source "Custom
(OpenAI-compatible)"), starts SillyTavern, plays the two scenarios of the fixtures and writes
them. Needs node, the `playwright` package and Chromium (`--chromium`, default /usr/bin/chromium).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "sillytavern"
REPLY = "Reply {n}: *smiles* Hello there, traveller."


class Recorder(ThreadingHTTPServer):
    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), RecorderHandler)
        self.bodies: list[dict[str, Any]] = []

    def reply(self) -> str:
        return REPLY.format(n=len(self.bodies))


class RecorderHandler(BaseHTTPRequestHandler):
    server: Recorder

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("content-type", kind)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        models = {"object": "list", "data": [{"id": "fake-gpt", "object": "model"}]}
        self._send(200, json.dumps(models).encode())

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.server.bodies.append(body)
        reply = self.server.reply()
        if not body.get("stream"):
            message = {"role": "assistant", "content": reply}
            answer = {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
            self._send(200, json.dumps(answer).encode())
            return
        frames = [{"choices": [{"index": 0, "delta": {"content": reply}}]},
                  {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]  # fmt: skip
        data = "".join(f"data: {json.dumps(frame)}\n\n" for frame in frames) + "data: [DONE]\n\n"
        self._send(200, data.encode(), "text/event-stream")


def configure(sillytavern: Path, recorder_port: int) -> None:
    path = sillytavern / "data" / "default-user" / "settings.json"
    settings = json.loads(path.read_text("utf-8"))
    settings["firstRun"] = False
    settings["main_api"] = "openai"
    oai = settings["oai_settings"]
    oai.update(chat_completion_source="custom", custom_model="fake-gpt",
               custom_url=f"http://127.0.0.1:{recorder_port}/v1")  # fmt: skip
    path.write_text(json.dumps(settings, indent=4), "utf-8")


def open_chat(page: Page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded", timeout=120_000)
    page.wait_for_selector("#send_textarea", timeout=120_000)
    time.sleep(5)
    page.click("#API-status-top")
    time.sleep(1)
    page.click("#api_button_openai")  # Connect
    time.sleep(4)
    page.click("#API-status-top")
    page.click("#rightNavDrawerIcon")
    page.click("text=Seraphina", timeout=20_000)
    time.sleep(3)


def sender(page: Page, recorder: Recorder) -> Callable[[str, bool], None]:
    def send(text: str, answered: bool = True) -> None:
        before = len(recorder.bodies)
        page.fill("#send_textarea", text)
        page.press("#send_textarea", "Enter")
        deadline = time.monotonic() + 60
        while answered and len(recorder.bodies) == before:
            if time.monotonic() > deadline:
                raise TimeoutError(f"SillyTavern sent nothing for {text!r}")
            time.sleep(0.3)
        time.sleep(3)  # the reply is shown and saved before the next message

    return send


def fixture(recorder: Recorder, names: list[str], about: dict[str, str]) -> dict[str, Any]:
    requests = [
        {"name": name, "body": body, "reply": REPLY.format(n=index + 1)}
        for index, (name, body) in enumerate(zip(names, recorder.bodies, strict=True))
    ]
    return {**about, "requests": requests}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sillytavern", type=Path, required=True)
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument("--recorder-port", type=int, default=8124)
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--out", type=Path, default=FIXTURES)
    args = parser.parse_args()
    configure(args.sillytavern, args.recorder_port)
    server = subprocess.Popen(["node", "server.js", "--port", str(args.port)],
                              cwd=args.sillytavern, stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        time.sleep(20)
        record(args)
    finally:
        server.terminate()


def record(args: argparse.Namespace) -> None:
    version = json.loads((args.sillytavern / "package.json").read_text())["version"]
    about = {"sillytavern": f"{version} (npm package sillytavern@{version})"}
    url = f"http://127.0.0.1:{args.port}/"
    scenarios = [
        ("default_preset.json", ["turn 1", "turn 2", "turn 3", "continue", "impersonate",
                                 "quiet prompt (/gen)"],
         ["Hello! Where am I?", "Who are you?", "Can you help me walk?", "/continue",
          "/impersonate", "/gen Summarize the chat so far in one sentence."], ["/newchat"]),
        ("authors_note_lorebook.json", ["turn 1", "turn 2", "turn 3", "turn 4"],
         ["Hi again.", "Is there a river nearby?", "What else is in the forest?", "Tell me more."],
         ["/newchat", "/note Keep Seraphina's replies under three sentences.", "/depth 2",
          "/getchatbook | /createentry file={{pipe}} key=river The river beyond the glade "
          "hides healing herbs."]),
    ]  # fmt: skip
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        for name, names, messages, setup in scenarios:
            recorder = Recorder(args.recorder_port)
            threading.Thread(target=recorder.serve_forever, daemon=True).start()
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            open_chat(page, url)
            send = sender(page, recorder)
            for command in setup:
                send(command, False)
            for message in messages:
                send(message, True)
            page.close()
            recorder.shutdown()
            recorder.server_close()
            path = args.out / name
            old = json.loads(path.read_text()) if path.exists() else {}
            kept = {k: v for k, v in old.items() if k != "requests"}  # the headers' prose
            data = fixture(recorder, names, {"how": "Recorded by scripts/record_sillytavern.py",
                                             **kept, **about})  # fmt: skip
            path.write_text(json.dumps(data, indent=1, ensure_ascii=False), "utf-8")
        browser.close()


if __name__ == "__main__":
    main()
