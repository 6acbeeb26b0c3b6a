"""gzip, through ISA-L (python-isal) when it is installed: the same format (any gzip reader reads
what it writes, and it reads any gzip), at about 3.5x zlib's speed to compress at level 1 and 2.5x
to decompress (docs/benchmarks.md, "Compression"). An ingest compresses every archived body and
gunzips its input, so this is a few CPU seconds of a corpus ingest. Without isal (a platform with
no wheel), the standard library's zlib and gzip do the same, slower."""
from __future__ import annotations

import gzip
import zlib
from types import ModuleType
from typing import IO, Any

_gzip: ModuleType
_zlib: ModuleType
try:
    from isal import igzip as _gzip
    from isal import isal_zlib as _zlib

    MAX_LEVEL = _zlib.ISAL_BEST_COMPRESSION  # 3: ISA-L's levels are 0-3
    _CODEC_ERRORS: tuple[type[BaseException], ...] = (zlib.error, _zlib.error)
except ImportError:  # pragma: no cover - isal is a dependency; this is the platform-without-wheels path
    _gzip, _zlib = gzip, zlib
    MAX_LEVEL = 9
    _CODEC_ERRORS = (zlib.error,)

# what a truncated or corrupt gzip raises, with either implementation
ERRORS: tuple[type[BaseException], ...] = (EOFError, gzip.BadGzipFile, *_CODEC_ERRORS)


def open_gzip(file: Any, mode: str = "rb") -> IO[bytes]:
    """A gzip file (path or binary file object) to read or write, like ``gzip.open``."""
    return _gzip.open(file, mode)


def compress_member(body: bytes, level: int) -> bytes:
    """One gzip member of ``body`` (mtime 0: deterministic); ``level`` is capped at MAX_LEVEL."""
    return _zlib.compress(body, min(level, MAX_LEVEL), wbits=31)  # wbits 31: gzip framing


def decompress_member(member: bytes) -> bytes:
    """The body of one gzip member; raises one of ERRORS when it is not one."""
    return _zlib.decompress(member, 31)


def decompress(data: bytes) -> bytes:
    """All members of a gzip file, concatenated; raises one of ERRORS when it is not one."""
    return _gzip.decompress(data)
