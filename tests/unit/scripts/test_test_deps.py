"""scripts/test_deps.sh (run by `setup.sh --test`): installs chromium and wordnet-base through apt where it can, and
where it cannot (not root and no passwordless sudo, or apt fails) warns which tests will skip and exits 0."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[3] / "scripts" / "test_deps.sh"


def _stub(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def run(tmp_path: Path, *, uid: int, apt_rc: int | None, sudo: bool) -> tuple[subprocess.CompletedProcess, str]:
    """Run the script on a PATH with no chromium and a missing WordNet folder; `apt_rc` None = no apt-get."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "mktemp", "tail", "tr", "rm", "cat"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    calls = tmp_path / "calls"
    _stub(bin_dir, "id", f"echo {uid}")
    if apt_rc is not None:
        _stub(bin_dir, "apt-get", f'echo "apt-get $*" >> {calls}; echo "E: no network" >&2; exit {apt_rc}')
    if sudo:
        _stub(bin_dir, "sudo", f'echo "sudo $*" >> {calls}; shift; "$@"')
    env = {"PATH": str(bin_dir), "WNSEARCHDIR": str(tmp_path / "no-wordnet")}
    proc = subprocess.run([str(bin_dir / "bash"), str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    return proc, calls.read_text() if calls.exists() else ""


def test_not_root_without_sudo_warns_and_goes_on(tmp_path):
    proc, calls = run(tmp_path, uid=1000, apt_rc=0, sudo=False)
    assert proc.returncode == 0
    assert calls == ""  # apt was never tried
    assert "could not install chromium wordnet-base (not root and no passwordless sudo)" in proc.stderr
    assert "test_browser.py will skip" in proc.stderr and "test_token_types.py" in proc.stderr


def test_failing_apt_warns_with_its_error_and_goes_on(tmp_path):
    proc, calls = run(tmp_path, uid=0, apt_rc=100, sudo=False)
    assert proc.returncode == 0
    assert calls == "apt-get update -qq\n"
    assert "apt-get failed: E: no network" in proc.stderr and "will skip" in proc.stderr


def test_no_apt_get_warns(tmp_path):
    proc, _ = run(tmp_path, uid=0, apt_rc=None, sudo=False)
    assert proc.returncode == 0 and "apt-get is not available" in proc.stderr


@pytest.mark.parametrize("uid,sudo", [(0, False), (1000, True)])
def test_apt_installs_both_quietly_as_root_or_with_sudo(tmp_path, uid, sudo):
    proc, calls = run(tmp_path, uid=uid, apt_rc=0, sudo=sudo)
    assert proc.returncode == 0 and proc.stderr == ""
    assert "apt-get install -y -qq chromium wordnet-base" in calls
    assert ("sudo -n true" in calls) == sudo  # the passwordless probe, then each apt call through sudo -n
