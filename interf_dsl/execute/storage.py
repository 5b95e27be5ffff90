"""Execute stage, before and after a run: the folders it writes — checked up front, and the run directory claimed
atomically and published in one rename.

Input: the reports folder, the step cache folder and the run directory's final path. Output: nothing, or a
`StorageError` naming the path (not writable, disk full) before any step computes; a `RunDirClaim`.

Why claim: a run directory is written to a hidden sibling, `<experiment>/.<run_id>.partial/`, and renamed to
`<experiment>/<run_id>/` once complete, so a failure (a full disk, a kill) never leaves a half-written run
directory that `interf report` would reject. The sibling is created with `mkdir` (atomic, exclusive) and held with
an exclusive `flock` for the whole run, so two runs given the same `--run-id` cannot both proceed: the second one
stops at once with an error, and neither replaces the other. A sibling left by a killed run holds no lock: the next
claim of that id takes it over; other runs' leftovers are swept after a day.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import time
from pathlib import Path

from interf_dsl.errors import ExecuteError, StorageError
from interf_dsl.execute.atomic import fsync_dir

try:  # POSIX; elsewhere the exclusive mkdir alone guards the run id
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

PARTIAL_SUFFIX = ".partial"
STALE_PARTIAL_S = 24 * 3600.0
"""A partial run directory nobody holds, older than this, is a killed run's leftover and is removed."""
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
"""OSErrors that only a write meets (disk full, quota, read-only file system, file too large): met inside a step,
they say the storage is unusable, not that the step has a bug."""

_HINTS = {
    errno.ENOSPC: "the disk is full: free space",
    errno.EDQUOT: "the disk quota is exhausted: free space",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "you lack write permission there",
    errno.EPERM: "you lack write permission there",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "a part of the path is a file, not a folder",
}


def storage_error(exc: OSError, what: str, path: Path | str, *, hint: str = "") -> StorageError:
    """A `StorageError` for an OSError met writing `what` at `path` (the file it names, when it names one)."""
    where = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
    cause = _HINTS.get(exc.errno or 0, "")
    parts = [p for p in (cause, hint) if p]
    return StorageError(f"cannot write the {what} {path}: {exc.strerror or exc}{where}",
                        hint="; ".join(parts) or None)


def check_writable(folder: Path, what: str, *, hint: str = "") -> None:
    """Create `folder` if needed and write (then remove) a probe file in it.

    Raises:
        StorageError: the folder cannot be created or written, naming it.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".interf-write-check-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise storage_error(exc, what, folder, hint=hint) from None


class RunDirClaim:
    """A run directory being written: `path` (the hidden partial sibling) until `publish` renames it to `final`."""

    def __init__(self, final: Path, path: Path, fd: int | None) -> None:
        self.final, self.path, self._fd = final, path, fd
        self.published = False

    def publish(self) -> None:
        """Rename the complete partial directory to its final name (refusing to replace anything there).

        Raises:
            ExecuteError: something appeared at the final path during the run.
            OSError: the rename failed.
        """
        if self.final.exists():
            raise ExecuteError(f"run directory {self.final} appeared while this run was writing {self.path}",
                               hint="pass another --run-id")
        os.rename(self.path, self.final)
        fsync_dir(self.final.parent)
        self.published = True

    def release(self) -> None:
        """Remove the partial directory unless it was published, and drop the lock. Idempotent."""
        if not self.published and self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None


def partial_path(final: Path) -> Path:
    """The hidden sibling a run directory is written to: `<parent>/.<name>.partial`."""
    return final.parent / f".{final.name}{PARTIAL_SUFFIX}"


def claim_run_dir(final: Path) -> RunDirClaim:
    """Reserve the run directory `final` for this run, atomically, before anything is computed.

    Raises:
        StorageError: the reports folder cannot be created or written (names it).
        ExecuteError: the run directory exists, or another live run is writing the same run id.
    """
    parent = final.parent
    hint = "pass --reports to a writable folder"
    check_writable(parent, "reports folder", hint=hint)
    _sweep_partials(parent)
    path = partial_path(final)
    for _ in range(3):  # a claim racing a run that is removing its own partial directory tries again
        try:
            os.mkdir(path)
            created = True
        except FileExistsError:
            created = False  # a live run's, or a killed run's: the lock tells
        except OSError as exc:
            raise storage_error(exc, "run directory", path, hint=hint) from None
        fd = _lock(path, created)
        if fd is None:
            raise ExecuteError(f"another run is writing run id {final.name!r} right now ({path})",
                               hint="pass another --run-id, or leave it out for a fresh one")
        if _same_inode(fd, path):
            break
        os.close(fd)
    else:
        raise ExecuteError(f"could not claim run id {final.name!r}: {path} keeps changing under another run",
                           hint="pass another --run-id")
    claim = RunDirClaim(final, path, fd)
    if final.exists():
        claim.release()
        raise ExecuteError(f"run directory {final} already exists", hint="pass another --run-id or leave it out")
    if not created:  # a killed run's leftover, now ours: start empty
        for child in path.iterdir():
            shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
    return claim


def _same_inode(fd: int, path: Path) -> bool:
    """Whether `path` still names the directory `fd` holds (its holder may have removed it before we locked)."""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except OSError:
        return False


def _lock(path: Path, created: bool) -> int | None:
    """An open descriptor of `path` holding an exclusive flock, or None when another process holds it."""
    if fcntl is None:
        return None if not created else os.open(path, os.O_RDONLY)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None  # removed under us by the run that held it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _sweep_partials(parent: Path) -> None:
    """Remove partial run directories of killed runs (unlocked and older than `STALE_PARTIAL_S`)."""
    now = time.time()
    for path in parent.glob(f".*{PARTIAL_SUFFIX}"):
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime < STALE_PARTIAL_S:
                continue
            fd = _lock(path, created=False)
            if fd is not None:
                shutil.rmtree(path, ignore_errors=True)
                os.close(fd)
