"""Fake file beds: one Starlette app answering for several hosts (`http://<name>/...`), each a
file bed of one shape, and able to fail (`beds[name].failing = True`, HTTP 500).

Shapes (`FakeFileBeds(a="imgbb")`, or `"mixed"` for every name given positionally):

- `mixed`: LMArenaBridge's JSON `{file_name, file_data, api_key}` at `/upload` → `{success,
  filename}`, or a multipart form (`file`, optional `key`) → `{"data": {"url": …}}`;
- one per preset of `lmarenarev.config.filebed_presets`, answering as that host's public page
  says (the same sources as docs/files.md): `lmarenabridge`, `imgbb` (`/1/upload`, `key` +
  `image` → `data.url`), `freeimage` (`/api/1/upload`, `key`, `action=upload`, `format=json`,
  `source` → `image.url`), `0x0` (`/`, `file` → the link as text), `uguu` (`/upload` or
  `/upload.php`, `files[]` → `{success, files: [{url}]}`), `bashupload` (`/`, `file` → a text
  block with a `wget <link>` line), `tempsh` (`/upload`, `file` → the link as text).

A request of the wrong shape (wrong path, a missing field, a wrong key) is refused the way the
host would, so a test passes only when the gateway sends exactly that shape. Stored files are
served back at the link.

    beds = FakeFileBeds("a", "b", img="imgbb")
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=beds.app))
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

Fields = dict[str, tuple[str, bytes]]  # form field → (file name, bytes)


@dataclass
class Bed:
    shape: str = "mixed"
    failing: bool = False
    key: str = ""
    uploads: list[tuple[str, bytes]] = field(default_factory=list)
    attempts: int = 0
    stored: dict[str, bytes] = field(default_factory=dict)  # path of the link → bytes


class FakeFileBeds:
    def __init__(self, *names: str, **shaped: str) -> None:
        self.beds = {name: Bed() for name in names}
        self.beds.update({name: Bed(shape=shape) for name, shape in shaped.items()})
        self.app = Starlette(routes=[
            Route("/{path:path}", self.upload, methods=["POST"]),
            Route("/{path:path}", self.download, methods=["GET"]),
        ])
        self._shapes: dict[str, Callable[[Bed, Request, str], Awaitable[Response]]] = {
            "mixed": self._mixed,
            "lmarenabridge": self._lmarenabridge,
            "imgbb": self._imgbb,
            "freeimage": self._freeimage,
            "0x0": self._zero_x_zero,
            "uguu": self._uguu,
            "bashupload": self._bashupload,
            "tempsh": self._tempsh,
        }

    async def upload(self, request: Request) -> Response:
        host = request.url.hostname or ""
        bed = self.beds[host]
        bed.attempts += 1
        if bed.failing:
            return Response("down", 500)
        return await self._shapes[bed.shape](bed, request, "/" + request.path_params["path"])

    async def download(self, request: Request) -> Response:
        bed = self.beds.get(request.url.hostname or "")
        data = None if bed is None else bed.stored.get("/" + request.path_params["path"])
        return Response(b"", 404) if data is None else Response(data)

    # --- the shapes ------------------------------------------------------------------------------

    async def _mixed(self, bed: Bed, request: Request, path: str) -> Response:
        if request.headers.get("content-type", "").startswith("multipart/"):
            fields = await _form(request)
            if bed.key and fields.get("key", ("", b""))[1] != bed.key.encode():
                return JSONResponse({"error": "bad key"}, 401)
            bed.uploads.append(fields["file"])
            link = f"/uploads/{len(bed.uploads)}"
            bed.stored[link] = fields["file"][1]
            return JSONResponse({"data": {"url": f"http://{request.url.netloc}{link}"}})
        return await self._lmarenabridge(bed, request, path)

    async def _lmarenabridge(self, bed: Bed, request: Request, path: str) -> Response:
        if path != "/upload":
            return JSONResponse({"detail": "Not Found"}, 404)
        payload = await request.json()
        if bed.key and payload.get("api_key") != bed.key:
            return JSONResponse({"success": False, "error": "bad key"}, 401)
        data = base64.b64decode(payload["file_data"].partition(",")[2])
        bed.uploads.append((payload["file_name"], data))
        name = f"f{len(bed.uploads)}.bin"
        bed.stored[f"/uploads/{name}"] = data
        return JSONResponse({"success": True, "filename": name})

    async def _imgbb(self, bed: Bed, request: Request, path: str) -> Response:
        fields = await _form(request) if path == "/1/upload" else {}
        key = fields.get("key", ("", b""))[1].decode() or request.query_params.get("key", "")
        if bed.key and key != bed.key:
            return _imgbb_error(400, "Invalid API v1 key.")
        if "image" not in fields:
            return _imgbb_error(400, "Empty upload source.")
        url = _keep(bed, request, fields["image"])
        return JSONResponse({"data": {"id": "x", "url": url, "display_url": url},
                             "success": True, "status": 200})

    async def _freeimage(self, bed: Bed, request: Request, path: str) -> Response:
        fields = await _form(request) if path == "/api/1/upload" else {}
        values = {name: data.decode() for name, (_, data) in fields.items() if name != "source"}
        if bed.key and values.get("key") != bed.key:
            return _imgbb_error(400, "Invalid API v1 key.")
        if values.get("action", "upload") != "upload" or values.get("format") != "json":
            return PlainTextResponse("not JSON: format=json was not asked for")
        if "source" not in fields:
            return _imgbb_error(400, "Empty upload source.")
        url = _keep(bed, request, fields["source"])
        return JSONResponse({"status_code": 200, "status_txt": "OK",
                             "image": {"url": url, "display_url": url}})

    async def _zero_x_zero(self, bed: Bed, request: Request, path: str) -> Response:
        fields = await _form(request) if path == "/" else {}
        if "file" not in fields:
            return PlainTextResponse("400 Bad Request: no file\n", 400)
        return PlainTextResponse(_keep(bed, request, fields["file"]) + "\n")

    async def _uguu(self, bed: Bed, request: Request, path: str) -> Response:
        fields = await _form(request) if path in ("/upload", "/upload.php") else {}
        if "files[]" not in fields:
            return JSONResponse({"success": False, "errorcode": 400,
                                 "description": "No input file(s)"}, 400)
        name, data = fields["files[]"]
        url = _keep(bed, request, (name, data))
        return JSONResponse({"success": True, "files": [
            {"hash": "x", "filename": url.rsplit("/", 1)[1], "url": url, "size": len(data),
             "dupe": False}]})

    async def _bashupload(self, bed: Bed, request: Request, path: str) -> Response:
        fields = await _form(request) if path == "/" else {}
        if "file" not in fields:
            return PlainTextResponse("No file uploaded\n", 400)
        _, data = fields["file"]
        url = _keep(bed, request, fields["file"])
        rule = "=" * 25
        return PlainTextResponse(
            f"\n{rule}\n\nUploaded 1 file, {len(data)} bytes\n\nwget {url}\n\n{rule}\n\n"
        )

    async def _tempsh(self, bed: Bed, request: Request, path: str) -> Response:
        fields = await _form(request) if path == "/upload" else {}
        if "file" not in fields:
            return PlainTextResponse("No file\n", 400)
        return PlainTextResponse(_keep(bed, request, fields["file"]))


def _keep(bed: Bed, request: Request, upload: tuple[str, bytes]) -> str:
    """Store an upload; its link (`http://<host[:port]>/<token>/<name>`)."""
    bed.uploads.append(upload)
    path = f"/{secrets.token_hex(4)}/{upload[0] or 'file'}"
    bed.stored[path] = upload[1]
    return f"http://{request.url.netloc}{path}"


def _imgbb_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"status_code": status, "error": {"message": message},
                         "status_txt": "Bad Request"}, status)


async def _form(request: Request) -> Fields:
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/"):
        return {}
    return _multipart(content_type, await request.body())


def _multipart(content_type: str, body: bytes) -> Fields:
    """Form field name → (file name, bytes), without python-multipart."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: Fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        fields[str(name)] = (part.get_filename() or "", data)
    return fields
