"""An LRU cache of downloaded images, bounded by entries and by bytes; entries expire."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class ImageCache:
    def __init__(
        self,
        max_entries: int,
        max_bytes: int,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.clock = clock
        self._items: OrderedDict[str, tuple[bytes, float]] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.evicted = 0  # dropped to stay within the bounds (not expired ones)

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            self.misses += 1
            return None
        data, stored_at = item
        if self.clock() - stored_at >= self.ttl:
            self._drop(key)
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return data

    def put(self, key: str, data: bytes) -> None:
        if key in self._items:
            self._drop(key)
        if self.max_entries <= 0 or len(data) > self.max_bytes:
            return
        self._items[key] = (data, self.clock())
        self.bytes += len(data)
        while len(self._items) > self.max_entries or self.bytes > self.max_bytes:
            self._drop(next(iter(self._items)))
            self.evicted += 1

    def _drop(self, key: str) -> None:
        data, _ = self._items.pop(key)
        self.bytes -= len(data)
