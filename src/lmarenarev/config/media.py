"""Setting blocks for images and files (the mogai fork's keys, same names and meanings).

`Settings` (settings.py) holds one field per key; the blocks it uses live here so that module
stays about the gateway as a whole.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .filebed_presets import PRESETS, minimal_defaults

ImageFormat = Literal["png", "jpeg", "webp", "original"]


class LocalSaveFormat(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        False, description="Convert saved images to `format`; off: save the bytes as served."
    )
    format: ImageFormat = Field(
        "png", description='"png", "jpeg", "webp" or "original" (no conversion).'
    )
    jpeg_quality: int = Field(
        100, ge=1, le=100, description="Quality of JPEG and WebP output (1-100)."
    )


class Base64Conversion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        True, description="Convert images to target_format before encoding them as base64."
    )
    target_format: ImageFormat = Field(
        "png", description='"png", "jpeg", "webp" or "original" (no conversion).'
    )
    jpeg_quality: int = Field(
        100, ge=1, le=100, description="Quality of JPEG and WebP output (1-100)."
    )


class ImageReturnFormat(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["url", "base64"] = Field(
        "url",
        description='How chat replies carry generated images: "url" (LMArena\'s link, '
        'as markdown) or "base64" (downloaded and embedded as a data: URL; if the download '
        "fails the link is used and the log says so).",
    )
    base64_conversion: Base64Conversion = Field(
        default_factory=Base64Conversion,
        description="Format conversion before base64 (chat replies and b64_json images).",
    )


class DownloadTimeout(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    connect: float = Field(20.0, gt=0, description="Seconds to connect to the image host.")
    sock_read: float = Field(30.0, gt=0, description="Longest silence while reading, seconds.")
    total: float = Field(80.0, gt=0, description="Longest whole download, seconds.")
    max_retries: int = Field(
        2, ge=0, description="Retries of a download that failed on the network or with 5xx/429."
    )


class MemoryManagement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    image_cache_max_size: int = Field(
        500, ge=0, description="Most downloaded images kept in memory (0: no cache)."
    )
    image_cache_ttl_seconds: float = Field(
        3600.0, gt=0, description="How long a downloaded image stays in the cache."
    )
    image_cache_max_mb: float = Field(
        100.0, ge=0, description="Most megabytes of images kept in the cache."
    )


class FileBedEndpoint(BaseModel):
    """One file host attachments can be uploaded to (a file bed). Keys left out come from its
    preset (`preset`, or the one of its url's host; config/filebed_presets.py), else from the
    defaults of a minimal entry."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Name used in logs and errors.")
    url: str = Field(description="Upload URL (POST); a preset gives its host's.")
    preset: str = Field(
        "",
        description="imgbb, freeimage, 0x0, uguu, bashupload, tempsh or lmarenabridge; empty: "
        "the one of the url's host, if any.",
    )
    enabled: bool = True
    api_key: str = ""
    api_key_field: str = "api_key"
    upload_mode: Literal["json", "form"] = "json"
    form_file_field: str = "file"
    form_fields: dict[str, str] = Field(
        default_factory=dict, description="More form fields sent with a form upload."
    )
    response_type: Literal["json", "text"] = "json"
    json_url_key: str = ""

    @model_validator(mode="before")
    @classmethod
    def _preset_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        named = data.get("preset") or ""
        if named:
            if named not in PRESETS:
                known = ", ".join(sorted(PRESETS))
                raise ValueError(f"no file bed preset named {named!r}; use one of {known}")
            preset, defaults = named, PRESETS[named]
        else:
            preset, defaults = minimal_defaults(str(data.get("url") or ""))
        filled = {**defaults, **data, "preset": preset}
        if "json_url_key" in data and "response_type" not in data:
            filled["response_type"] = "json"  # a path into the answer: the answer is JSON
        return filled
