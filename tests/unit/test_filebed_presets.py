"""The file beds of the mogai table as presets: each upload shape against a fake host that
answers like the real one; links found by an indexed path or anywhere in a text answer; the
defaults of a minimal entry; the start-up warning for a file bed LMArena cannot reach."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from lmarenarev.config.checks import setting_warnings
from lmarenarev.config.filebed_presets import PRESETS
from lmarenarev.config.media import FileBedEndpoint
from lmarenarev.config.settings import Settings
from lmarenarev.media.files.filebed import (
    FileBedError,
    FileBeds,
    link_from_response,
    link_in_text,
    value_at,
)
from testkit.fakes.filebed import FakeFileBeds

# preset → (the fake's host, the upload path of that host)
HOSTS = {
    "lmarenabridge": ("bridge.test", "/upload"),
    "imgbb": ("imgbb.test", "/1/upload"),
    "freeimage": ("freeimage.test", "/api/1/upload"),
    "0x0": ("zero.test", "/"),
    "uguu": ("uguu.test", "/upload"),
    "bashupload": ("bash.test", "/"),
    "tempsh": ("temp.test", "/upload"),
}
KEYED = {"lmarenabridge", "imgbb", "freeimage"}


def test_every_host_of_the_mogai_table_has_a_preset() -> None:
    assert set(PRESETS) == set(HOSTS)


@pytest.mark.parametrize("preset", sorted(HOSTS))
async def test_each_preset_uploads_in_its_hosts_shape(preset: str) -> None:
    host, path = HOSTS[preset]
    fake = FakeFileBeds(**{host: preset})
    fields: dict[str, Any] = {"name": preset, "preset": preset, "url": f"http://{host}{path}"}
    if preset in KEYED:
        fake.beds[host].key = fields["api_key"] = "the-key"
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app))
    beds = FileBeds([FileBedEndpoint(**fields)], "failover", 60, lambda: client)
    link = await beds.upload(b"\x89PNG-bytes", "cat.png", "image/png")
    assert fake.beds[host].uploads == [("cat.png", b"\x89PNG-bytes")]
    assert link.startswith(f"http://{host}/")
    assert (await client.get(link)).content == b"\x89PNG-bytes"  # the link serves the file


@pytest.mark.parametrize("preset", sorted(KEYED - {"lmarenabridge"}))
async def test_a_wrong_key_is_a_failed_upload_that_says_why(preset: str) -> None:
    host, path = HOSTS[preset]
    fake = FakeFileBeds(**{host: preset})
    fake.beds[host].key = "right"
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app))
    bed = FileBedEndpoint(name=preset, preset=preset, url=f"http://{host}{path}", api_key="wrong")
    with pytest.raises(Exception, match="Invalid API v1 key"):
        await FileBeds([bed], "failover", 60, lambda: client).upload(b"x", "a.png", "image/png")


@pytest.mark.parametrize(
    ("entry", "preset", "mode", "response"),
    [
        ({"name": "0x0.st", "url": "https://0x0.st"}, "0x0", "form", "text"),
        ({"name": "u", "url": "https://uguu.se/upload.php"}, "uguu", "form", "json"),
        ({"name": "b", "url": "https://bashupload.com/"}, "bashupload", "form", "text"),
        ({"name": "t", "url": "https://temp.sh/upload"}, "tempsh", "form", "text"),
        ({"name": "i", "url": "https://api.imgbb.com/1/upload"}, "imgbb", "form", "json"),
        ({"name": "self", "url": "http://10.0.0.5:5104/upload"}, "lmarenabridge", "json", "json"),
        ({"name": "other", "url": "https://files.example/put"}, "", "form", "text"),
    ],
)
def test_a_minimal_entry_gets_the_defaults_of_its_host(
    entry: dict[str, str], preset: str, mode: str, response: str
) -> None:
    bed = FileBedEndpoint(**entry)
    assert (bed.preset, bed.upload_mode, bed.response_type) == (preset, mode, response)


async def test_a_minimal_0x0_entry_uploads_as_0x0_does() -> None:
    fake = FakeFileBeds(**{"0x0.st": "0x0"})
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=fake.app))
    bed = FileBedEndpoint(name="0x0.st", url="https://0x0.st")
    link = await FileBeds([bed], "failover", 60, lambda: client).upload(b"x", "a.txt", "text/plain")
    assert link.startswith("http://0x0.st/") and fake.beds["0x0.st"].uploads == [("a.txt", b"x")]


def test_keys_an_entry_gives_win_over_its_preset() -> None:
    bed = FileBedEndpoint(name="i", preset="imgbb", url="https://mirror.example/up",
                          json_url_key="data.display_url")
    assert (bed.url, bed.json_url_key, bed.form_file_field) == (
        "https://mirror.example/up", "data.display_url", "image")
    typed = FileBedEndpoint(name="x", url="https://files.example/api", json_url_key="link")
    assert typed.response_type == "json"  # a path into the answer: it is JSON


def test_an_unknown_preset_or_a_missing_url_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="no file bed preset named 'imgur'"):
        FileBedEndpoint(name="x", preset="imgur")
    with pytest.raises(ValidationError, match="url"):
        FileBedEndpoint(name="x", preset="lmarenabridge")


def test_the_mogai_endpoint_list_loads_as_written() -> None:
    """The six entries of the mogai fork's config.jsonc, keys as it spells them."""
    mogai = [
        {"name": "ImgBB", "enabled": True, "url": "https://api.imgbb.com/1/upload", "api_key": "k",
         "api_key_field": "key", "upload_mode": "form", "form_file_field": "image",
         "response_type": "json", "json_url_key": "data.url"},
        {"name": "Freeimage.host", "enabled": True, "url": "https://freeimage.host/api/1/upload",
         "api_key": "k", "api_key_field": "key", "upload_mode": "form",
         "form_file_field": "source", "response_type": "json", "json_url_key": "image.url"},
        {"name": "0x0.st", "enabled": True, "url": "https://0x0.st", "api_key": "",
         "upload_mode": "form", "form_file_field": "file", "response_type": "text"},
        {"name": "uguu.se", "enabled": True, "url": "https://uguu.se/upload.php",
         "upload_mode": "form", "form_file_field": "files[]", "response_type": "json",
         "json_url_key": "files.0.url"},
        {"name": "bashupload.com", "enabled": True, "url": "https://bashupload.com/",
         "api_key": "", "upload_mode": "form", "form_file_field": "file", "response_type": "text"},
        {"name": "temp.sh", "enabled": True, "url": "https://temp.sh/upload", "api_key": "",
         "upload_mode": "form", "form_file_field": "file", "response_type": "json",
         "json_url_key": "url"},
    ]
    settings = Settings.model_validate({"file_bed_endpoints": mogai})
    presets = [bed.preset for bed in settings.file_bed_endpoints]
    assert presets == ["imgbb", "freeimage", "0x0", "uguu", "bashupload", "tempsh"]
    freeimage = settings.file_bed_endpoints[1]
    assert freeimage.form_fields == {"action": "upload", "format": "json"}


# --- finding the link -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("data.files[0].url", "https://a/0"),
        ("data.files[1].url", "https://a/1"),
        ("data.files.1.url", "https://a/1"),  # mogai's spelling
        ("data.files[2].url", None),
        ("data.files.url", None),
        ("data.count", 2),
    ],
)
def test_json_paths_take_list_indices(path: str, expected: object) -> None:
    answer = {"data": {"count": 2, "files": [{"url": "https://a/0"}, {"url": "https://a/1"}]}}
    assert value_at(answer, path) == expected


def test_a_text_answer_may_hold_the_link_anywhere() -> None:
    bashupload = "\n=========================\n\nUploaded 1 file, 5 bytes\n\n" \
        "wget https://bashupload.com/AbC1d/cat.png\n\n=========================\n"
    assert link_in_text(bashupload) == "https://bashupload.com/AbC1d/cat.png"
    assert link_in_text("https://0x0.st/XyZ.png\n") == "https://0x0.st/XyZ.png"
    assert link_in_text('{"url": "https://temp.sh/a/b.txt"}') == "https://temp.sh/a/b.txt"
    assert link_in_text("Your file: (https://x.example/f.pdf).") == "https://x.example/f.pdf"
    with pytest.raises(FileBedError, match="no link"):
        link_in_text("ERROR: (400) No input file(s)")


def test_uguu_answers_through_an_indexed_path() -> None:
    bed = FileBedEndpoint(name="u", preset="uguu")
    answer = '{"success": true, "files": [{"hash": "h", "url": "https://a.uguu.se/x.png"}]}'
    assert link_from_response(bed, answer) == "https://a.uguu.se/x.png"
    with pytest.raises(FileBedError, match=r"files\[0\]\.url"):
        link_from_response(bed, '{"success": false, "errorcode": 400}')


# --- a file bed LMArena cannot reach ----------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5104/upload",
        "http://localhost:5104/upload",
        "http://[::1]:5104/upload",
        "http://192.168.1.20:5104/upload",
        "http://10.1.2.3/upload",
        "http://nas.local/upload",
        "http://filebed:5104/upload",
    ],
)
def test_a_loopback_or_private_file_bed_gets_a_start_up_warning(url: str) -> None:
    settings = Settings.model_validate(
        {"file_bed_enabled": True, "file_bed_endpoints": [{"name": "mine", "url": url}]}
    )
    (warning,) = [w for w in setting_warnings(settings) if "file bed" in w]
    assert "'mine'" in warning and url in warning and "cannot reach" in warning
    assert "\n" not in warning


def test_public_file_beds_and_disabled_ones_get_no_warning() -> None:
    beds = [{"name": "p", "preset": "0x0"},
            {"name": "off", "url": "http://127.0.0.1/upload", "enabled": False}]
    on = Settings.model_validate({"file_bed_enabled": True, "file_bed_endpoints": beds})
    assert [w for w in setting_warnings(on) if "file bed" in w] == []
    seed = Settings.model_validate({"file_bed_enabled": True,
                                    "file_bed_upload_url": "http://127.0.0.1:5104/upload"})
    assert any("file_bed_upload_url" in w for w in setting_warnings(seed))
    off = Settings.model_validate({"file_bed_upload_url": "http://127.0.0.1:5104/upload"})
    assert [w for w in setting_warnings(off) if "file bed" in w] == []
