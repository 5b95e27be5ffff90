"""Execute stage: provenance of a run (package versions, git state) and secret scrubbing for `run.json`.

Versions are read with `importlib.metadata`, never by importing the packages (torch alone takes seconds).
`scrub` removes every value of an environment variable named by an `api_key_env` setting, anything shaped like an
API key or bearer token, and the values of keys named like credentials or headers, before anything is written.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = ("interf", "torch", "transformer_lens", "sae_lens", "litellm", "polars", "pyarrow", "numpy")
REDACTED = "<redacted>"
_KEY_PATTERNS = re.compile(
    r"(sk-[A-Za-z0-9_\-]{16,}|sk-ant-[A-Za-z0-9_\-]{16,}|hf_[A-Za-z0-9]{20,}|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|AIza[0-9A-Za-z_\-]{30,}|xox[abprs]-[A-Za-z0-9\-]{10,}|AKIA[0-9A-Z]{16}"
    r"|(?i:bearer)\s+[A-Za-z0-9._\-~+/=]{8,})"
)
_SECRET_KEYS = re.compile(
    r"(?i)^(api_key|apikey|api_token|access_token|authorization|headers?|extra_headers|password|client_secret|secret)$"
)


def package_versions() -> dict[str, str | None]:
    """Python and package versions (None for packages that are not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_state(where: Path | str = ".") -> dict[str, Any]:
    """Commit and dirty flag (tracked files only) of the git checkout containing `where` (the spec's folder), and a
    `note` saying why there is none: "not a git checkout", "git is not installed" or "git failed: <its message>"."""
    where = Path(where)
    cwd = where if where.is_dir() else where.parent
    if shutil.which("git") is None:
        return {"commit": None, "dirty": None, "note": "git is not installed"}
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            message = head.stderr.strip().splitlines()
            why = ("not a git checkout" if any("not a git repository" in m for m in message)
                   else f"git failed: {message[0] if message else f'exit code {head.returncode}'}")
            return {"commit": None, "dirty": None, "note": why}
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return {"commit": None, "dirty": None, "note": f"git failed: {exc}"}
    return {"commit": head.stdout.strip(), "dirty": bool(status.strip())}


def platform_info() -> dict[str, str]:
    """Machine description (no host names or user names)."""
    return {"system": platform.system(), "machine": platform.machine(), "python_executable": Path(sys.executable).name}


def api_key_envs(value: Any) -> set[str]:
    """Every environment variable name given as an `api_key_env` anywhere in a nested JSON value."""
    names: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "api_key_env" and isinstance(v, str):
                names.add(v)
            names |= api_key_envs(v)
    elif isinstance(value, list | tuple):
        for v in value:
            names |= api_key_envs(v)
    return names


def secret_values(*sources: Any) -> list[str]:
    """Current values of the env vars named by `api_key_env` in `sources` (too-short values are ignored)."""
    names: set[str] = set()
    for s in sources:
        names |= api_key_envs(s)
    return sorted({os.environ[n] for n in names if len(os.environ.get(n, "")) >= 6}, key=len, reverse=True)


def scrub_text(text: str, secrets: list[str]) -> str:
    """`text` with every known secret value and key-shaped string replaced by `<redacted>`."""
    for s in secrets:
        text = text.replace(s, REDACTED)
    return _KEY_PATTERNS.sub(REDACTED, text)


def scrub(value: Any, secrets: list[str]) -> Any:
    """A copy of a nested JSON value with secrets removed (values of credential-named keys are redacted whole)."""
    if isinstance(value, dict):
        return {k: (REDACTED if _SECRET_KEYS.match(str(k)) and v not in (None, "", {}) else scrub(v, secrets))
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, secrets) for v in value]
    if isinstance(value, str):
        return scrub_text(value, secrets)
    return value
