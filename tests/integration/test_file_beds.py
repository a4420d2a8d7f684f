"""File beds through the whole gateway: an attachment goes to a file bed of a preset's shape
and LMArena gets its link; a file bed on this machine is warned about at start."""

from __future__ import annotations

import base64

import httpx

from testkit.fakes.filebed import FakeFileBeds
from testkit.fakes.serving import ServerThread

from .conftest import Arena, StartGateway


async def test_an_attachment_goes_to_a_preset_file_bed_and_lmarena_gets_its_link(
    start_gateway: StartGateway, arena: Arena
) -> None:
    fake = FakeFileBeds(**{"127.0.0.1": "uguu"})
    with ServerThread(fake.app) as bed:
        gateway = start_gateway(
            file_bed_enabled=True,
            file_bed_endpoints=[{"name": "uguu", "preset": "uguu", "url": f"{bed.url}/upload"}],
        )
        data = "data:text/plain;base64," + base64.b64encode(b"hello uguu").decode()
        file = {"type": "file", "file": {"filename": "note.txt", "file_data": data}}
        async with gateway.worker(arena):
            await gateway.client().chat.completions.create(model="fake-gpt", messages=[{
                "role": "user", "content": [{"type": "text", "text": "read it"}, file]}])
        (create,) = [r for r in arena.fake.requests if r.kind == "create"]
        (attachment,) = create.body["userMessage"]["experimental_attachments"]
        assert fake.beds["127.0.0.1"].uploads == [("note.txt", b"hello uguu")]
        assert attachment["url"].startswith(f"{bed.url}/")  # from files[0].url
        assert attachment["name"] == "note.txt"
    assert arena.fake.uploads == {}  # not LMArena's own upload
    # ...and the start-up warning says LMArena could not fetch that link
    (warning,) = [w for w in gateway.gateway.warnings if "file bed 'uguu'" in w]
    assert "loopback" in warning and "cannot reach" in warning


async def test_a_text_answering_file_bed_with_a_minimal_entry(
    start_gateway: StartGateway, arena: Arena
) -> None:
    fake = FakeFileBeds(**{"127.0.0.1": "bashupload"})
    with ServerThread(fake.app) as bed:
        gateway = start_gateway(
            file_bed_enabled=True,
            file_bed_endpoints=[{"name": "b", "url": f"{bed.url}/"}],  # form + text: the default
        )
        png = "data:image/png;base64," + base64.b64encode(b"\x89PNG....").decode()
        async with gateway.worker(arena):
            await gateway.client().chat.completions.create(model="fake-gpt", messages=[{
                "role": "user", "content": [
                    {"type": "text", "text": "see"},
                    {"type": "image_url", "image_url": {"url": png}},
                ]}])
        (create,) = [r for r in arena.fake.requests if r.kind == "create"]
        (attachment,) = create.body["userMessage"]["experimental_attachments"]
        async with httpx.AsyncClient() as http:  # the link found in bashupload's text answer
            assert (await http.get(attachment["url"])).content == b"\x89PNG...."
