"""Image bytes → another format (Pillow), data URLs, and what a file is by its first bytes."""

from __future__ import annotations

import base64
import io

from PIL import Image, UnidentifiedImageError

from ...config.media import ImageFormat

MIME_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}
EXTENSIONS = {mime: ("jpg" if kind == "jpeg" else kind) for kind, mime in MIME_TYPES.items()}


class ConversionFailed(ValueError):
    pass


def sniff_mime(data: bytes) -> str:
    """The image type by its magic bytes; `application/octet-stream` when unknown."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return "application/octet-stream"


def extension(mime: str) -> str:
    return EXTENSIONS.get(mime, "bin")


def convert(data: bytes, target: ImageFormat, quality: int) -> tuple[bytes, str]:
    """(bytes, mime) in `target`; "original" keeps the bytes. Raises `ConversionFailed`."""
    if target == "original":
        return data, sniff_mime(data)
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            out = io.BytesIO()
            if target == "jpeg":
                _flatten(image).save(out, "JPEG", quality=quality)
            elif target == "webp":
                image.save(out, "WEBP", quality=quality)
            else:
                image.save(out, "PNG", optimize=True)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ConversionFailed(f"cannot convert the image to {target}: {exc}") from None
    return out.getvalue(), MIME_TYPES[target]


def _flatten(image: Image.Image) -> Image.Image:
    """JPEG has no alpha: composite transparent images on white (as the seed did)."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
