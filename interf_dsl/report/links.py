"""Report stage: place stored files (merged tables of the table cache, figures of the step cache) into a run
directory as hard links, so a run adds no bytes for tables and figures the cache already holds.

Input: (stored file, run-directory path) pairs. Output: the run-directory files, and `FilePlacer.summary()` for
run.json's `storage` (how many were linked, how many copied and why).

A link shares its bytes with the cache, so nothing may write into a linked file: every interf writer replaces a
file (temporary file + `os.replace`, `execute.atomic`), which gives the run directory a new inode and leaves the
cache alone. Linked files are also made read-only, so an editor or script that would write into one in place is
refused (not for root); and both caches check a file's sha256 on every read and rebuild a damaged entry, so such
an edit is never served to a later run. Where a link is impossible (run directory and cache on different file
systems, a file system without hard links, too many links) the file is copied, and the copy is counted: run.json
and one console line say how many files were copied and why.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from pathlib import Path
from typing import Any

from interf_dsl.execute.atomic import fsync_dir

COPY_ERRNOS = frozenset({errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS})
"""os.link failures that mean "cannot link here" (copy instead); any other OSError is a real write failure."""


def copy_file_atomic(src: Path, dst: Path) -> None:
    """Copy `src` to `dst` atomically (temporary file, fsync, rename)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    try:
        shutil.copyfile(src, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(dst.parent)


def _read_only(path: Path) -> None:
    """Clear the write bits of a stored file (its links share them). A file owned by another user keeps its mode."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o222:
        with contextlib.suppress(PermissionError):
            os.chmod(path, mode & ~0o222)


class FilePlacer:
    """Hard-links stored files into a run directory, copying (and counting) where a link is impossible."""

    def __init__(self) -> None:
        self.linked = 0
        self.linked_bytes = 0
        self.copied = 0
        self.copied_bytes = 0
        self.why_copied: dict[str, int] = {}

    def place(self, src: Path, dst: Path) -> None:
        """Make `dst` a hard link of `src` (atomically: link to a temporary name, then rename), else a copy."""
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(f".{dst.name}.link-{os.getpid()}")
        tmp.unlink(missing_ok=True)
        size = src.stat().st_size
        try:
            os.link(src, tmp)
        except OSError as exc:
            if exc.errno not in COPY_ERRNOS:
                raise
            reason = f"{errno.errorcode.get(exc.errno or 0, exc.errno)}: {exc.strerror}"
            self.why_copied[reason] = self.why_copied.get(reason, 0) + 1
            self.copied += 1
            self.copied_bytes += size
            copy_file_atomic(src, dst)
            return
        try:
            _read_only(src)
            os.replace(tmp, dst)
        finally:
            tmp.unlink(missing_ok=True)
        fsync_dir(dst.parent)
        self.linked += 1
        self.linked_bytes += size

    def summary(self) -> dict[str, Any]:
        """run.json's `storage`: files linked and copied (with their bytes) and why each copy was made."""
        return {"linked": self.linked, "linked_bytes": self.linked_bytes, "copied": self.copied,
                "copied_bytes": self.copied_bytes, "why_copied": dict(sorted(self.why_copied.items()))}

    def note(self) -> str | None:
        """A console line when files were copied instead of linked (None when all were linked)."""
        if not self.copied:
            return None
        why = "; ".join(f"{n}× {r}" for r, n in sorted(self.why_copied.items()))
        return (f"copied {self.copied} stored file(s) ({self.copied_bytes / 1e6:.1f} MB) into the run directory "
                f"instead of hard-linking them ({why}); put the cache (INTERF_CACHE) on the reports' file system "
                "to link them")
