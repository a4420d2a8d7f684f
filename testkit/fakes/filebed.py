"""Fake file beds: one Starlette app answering for several hosts (`http://<name>/upload`), each
a file bed that takes uploads the LMArenaBridge way (JSON `{file_name, file_data, api_key}` →
`{success, filename}`) or as a multipart form (→ `{"data": {"url": …}}`), and can be told to
fail (`beds[name].failing = True`, HTTP 500).

    beds = FakeFileBeds("a", "b")
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=beds.app))
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Bed:
    failing: bool = False
    key: str = ""
    uploads: list[tuple[str, bytes]] = field(default_factory=list)
    attempts: int = 0


class FakeFileBeds:
    def __init__(self, *names: str) -> None:
        self.beds = {name: Bed() for name in names}
        self.app = Starlette(routes=[Route("/upload", self.upload, methods=["POST"]),
                                     Route("/uploads/{name}", self.download)])

    async def upload(self, request: Request) -> Response:
        bed = self.beds[request.url.hostname or ""]
        bed.attempts += 1
        if bed.failing:
            return Response("down", 500)
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/"):
            fields = _multipart(content_type, await request.body())
            if bed.key and fields.get("key", ("", b""))[1] != bed.key.encode():
                return JSONResponse({"error": "bad key"}, 401)
            bed.uploads.append(fields["file"])
            url = f"http://{request.url.hostname}/uploads/{len(bed.uploads)}"
            return JSONResponse({"data": {"url": url}})
        payload = await request.json()
        if bed.key and payload.get("api_key") != bed.key:
            return JSONResponse({"success": False, "error": "bad key"}, 401)
        data = payload["file_data"].partition(",")[2]
        bed.uploads.append((payload["file_name"], base64.b64decode(data)))
        return JSONResponse({"success": True, "filename": f"f{len(bed.uploads)}.bin"})

    async def download(self, request: Request) -> Response:
        return Response(b"", 404)


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str, bytes]]:
    """Form field name → (file name, bytes), without python-multipart."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, tuple[str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        fields[str(name)] = (part.get_filename() or "", data)
    return fields
