"""lmarenarev: an OpenAI-compatible API for LMArena, relayed through browser workers."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lmarenarev")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"
