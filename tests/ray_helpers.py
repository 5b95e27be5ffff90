"""Helpers the Ray tests ship to Ray workers (importable there: the tests put the checkout on the workers' path)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any


def stall_once_loader(ref: Any, *, marker: str) -> Any:
    """A model loader whose first call anywhere (claimed by creating `marker`, which then holds the worker's pid)
    stalls, so the test can SIGKILL that worker mid-step; every later call loads the model as usual."""
    from interf_dsl.backends.loading import load_model

    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return load_model(ref)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    Path(marker + ".ready").touch()
    time.sleep(300)  # killed long before this ends
    raise RuntimeError("the test did not kill this worker")
