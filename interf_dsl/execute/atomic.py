"""Execute stage, shared helper: atomic, durable file writes and checksums.

Every file the engine writes (cache entries, unit checkpoints, run directories) goes through `atomic_write_bytes`:
write to a temporary file in the same directory, fsync it, rename it over the target, fsync the directory. A reader
therefore sees either the old file or the complete new one, never a half-written file, even after SIGKILL.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from pathlib import Path

from interf_dsl.errors import ExecuteError

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=-]*$")


def check_name(name: str, what: str) -> str:
    """Refuse a file or table name that could leave its folder (path separators, `..`, empty, odd characters).

    Args:
        name: the name a runner or the user gave.
        what: what the name is for, used in the error message (e.g. "table name of step map:gpt2/L1").

    Returns:
        The name, unchanged.

    Raises:
        ExecuteError: the name is not a plain file name.
    """
    if not isinstance(name, str) or not _SAFE_NAME.match(name) or ".." in name:
        raise ExecuteError(
            f"refused {what} {name!r}: names must be plain file names (letters, digits, '.', '_', '-', '+', '='; "
            "no path separators, no '..')"
        )
    return name


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable (no-op where directories cannot be opened, e.g. Windows)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically: temporary file, fsync, rename, directory fsync."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    """`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def parquet_bytes(table) -> bytes:
    """Serialise a polars DataFrame to parquet bytes (zstd, statistics on) so it can be written atomically."""
    import io

    buf = io.BytesIO()
    table.write_parquet(buf, compression="zstd", statistics=True)
    return buf.getvalue()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
