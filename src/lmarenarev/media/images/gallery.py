"""The saved images as a gallery: a paged list, newest first, and safe lookups by path.

A path from a request is refused unless, with symlinks resolved, it names an image file inside
the images folder: `..`, absolute paths and symlinks leading out are all refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif"})
URL_PREFIX = "/api/images/"


def resolve_image(root: Path, relative: str) -> Path | None:
    """The file `relative` names inside `root`, or None when it is outside, not an image or
    missing."""
    if not relative or "\x00" in relative or "\\" in relative:
        return None
    candidate = Path(relative)
    if candidate.is_absolute() or candidate.drive:
        return None
    try:
        base = root.resolve(strict=True)
        target = (base / candidate).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not target.is_relative_to(base) or target == base:
        return None
    if target.suffix.lower() not in IMAGE_SUFFIXES or not target.is_file():
        return None
    return target


def list_images(root: Path, page: int, per_page: int) -> dict[str, Any]:
    """`{total, page, per_page, images: [{filename, folder, size, created, url}]}`."""
    entries: list[tuple[float, Path, int]] = []
    if root.is_dir():
        for path in root.glob("*/*"):
            if path.suffix.lower() not in IMAGE_SUFFIXES or path.is_symlink():
                continue
            try:
                stat = path.stat()
            except OSError:
                continue
            entries.append((stat.st_mtime, path, stat.st_size))
    entries.sort(key=lambda item: (item[0], item[1].name), reverse=True)
    start = (page - 1) * per_page
    images = [
        {
            "filename": path.name,
            "folder": path.parent.name,
            "size": size,
            "created": mtime,
            "url": URL_PREFIX + quote(f"{path.parent.name}/{path.name}"),
        }
        for mtime, path, size in entries[start : start + per_page]
    ]
    return {"total": len(entries), "page": page, "per_page": per_page, "images": images}
