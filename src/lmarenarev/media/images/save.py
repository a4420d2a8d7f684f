"""Saving images under `<home>/downloaded_images/YYYYMMDD/` (blocking: run it in a thread)."""

from __future__ import annotations

import os
import secrets
from datetime import datetime
from pathlib import Path

IMAGES_DIR = "downloaded_images"


def images_root(home: Path) -> Path:
    return home / IMAGES_DIR


def save_image(root: Path, data: bytes, ext: str, now: datetime) -> Path:
    """Write `data` as `<root>/<YYYYMMDD>/<YYYYMMDD_HHMMSS>_<random>.<ext>`, atomically."""
    folder = root / now.strftime("%Y%m%d")
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{now.strftime('%Y%m%d_%H%M%S')}_{secrets.token_hex(4)}.{ext}"
    path = folder / name
    temporary = folder / f".{name}.part"
    temporary.write_bytes(data)
    os.replace(temporary, path)
    return path
