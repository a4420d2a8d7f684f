"""Client API keys as configured (`api_key`, `api_keys`), and comparing secrets in constant time.

A key is kept as its sha256 digest only; secrets are compared by `same_secret`, which hashes
both sides first, so neither the comparison nor the lengths leak through timing.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_KEY_NAME = "default"  # the seed's single `api_key`
_NAME = re.compile(r"^[\w.@+-]{1,64}$")
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def same_secret(given: str, expected: str) -> bool:
    """Constant time whatever the lengths: both sides are hashed first."""
    return secrets.compare_digest(digest(given), digest(expected))


class ApiKeyEntry(BaseModel):
    """One named client key in `api_keys` (the key itself or its sha256)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Name shown in logs and usage (letters, digits, ._@+-).")
    key: str = Field("", description="The key clients send as `Authorization: Bearer <key>`.")
    sha256: str = Field("", description="Hex sha256 of the key, instead of the key itself.")
    rpm: int | None = Field(None, ge=1, description="Requests per minute; null: no limit.")
    models: list[str] | None = Field(None, description="Models this key may use; null: all.")
    enabled: bool = Field(True, description="false: the key is refused.")

    @field_validator("name")
    @classmethod
    def _plain_name(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError("a key name is 1-64 letters, digits or ._@+- (it appears in logs)")
        return name

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str) -> str:
        value = value.strip().lower()
        if value and not _HEX_DIGEST.match(value):
            raise ValueError("sha256 must be the 64 hex digits of the key's sha256")
        return value

    @model_validator(mode="after")
    def _one_secret(self) -> ApiKeyEntry:
        if bool(self.key) == bool(self.sha256):
            raise ValueError(f"key {self.name!r}: give either 'key' or 'sha256' (one of them)")
        return self

    def digest(self) -> bytes:
        return bytes.fromhex(self.sha256) if self.sha256 else digest(self.key)


def check_entries(api_key: str, entries: Iterable[ApiKeyEntry]) -> None:
    """Names and keys are unique, and "default" is the seed's `api_key` when that is set."""
    names: set[str] = {DEFAULT_KEY_NAME} if api_key else set()
    digests: set[bytes] = {digest(api_key)} if api_key else set()
    for entry in entries:
        if entry.name in names:
            taken = " (the name of api_key)" if entry.name == DEFAULT_KEY_NAME else ""
            raise ValueError(f"two keys are named {entry.name!r}{taken}")
        if entry.digest() in digests:
            raise ValueError(f"key {entry.name!r} is the same key as another one")
        names.add(entry.name)
        digests.add(entry.digest())
