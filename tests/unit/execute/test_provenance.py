"""Git provenance comes from the spec's folder, and says why there is none (no checkout, no git, git failing)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from interf_dsl.execute.provenance import git_state
from interf_dsl.report.sections import _run_section

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True,
                          capture_output=True, text=True).stdout.strip()


@needs_git
def test_commit_and_dirty_flag_of_the_specs_checkout_not_the_working_directory(tmp_path, monkeypatch):
    repo = tmp_path / "project"
    (repo / "specs").mkdir(parents=True)
    _git(repo, "init", "-q")
    spec = repo / "specs" / "demo.yaml"
    spec.write_text("experiment: {name: demo}\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "spec")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # run from outside the checkout: the spec's folder decides
    assert git_state(spec.parent) == {"commit": _git(repo, "rev-parse", "HEAD"), "dirty": False}
    spec.write_text("experiment: {name: changed}\n")
    assert git_state(spec.parent)["dirty"] is True
    (repo / "specs" / "untracked.yaml").write_text("x")
    spec.write_text("experiment: {name: demo}\n")
    assert git_state(spec.parent)["dirty"] is False  # untracked files do not make a checkout dirty


@needs_git
def test_outside_a_checkout_the_note_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))  # never look above tmp_path
    assert git_state(tmp_path) == {"commit": None, "dirty": None, "note": "not a git checkout"}


def test_without_git_or_when_git_fails_the_note_says_why(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert git_state(tmp_path)["note"] == "git is not installed"
    monkeypatch.undo()
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "git").write_text("#!/bin/sh\necho 'fatal: detected dubious ownership in repository' >&2\nexit 128\n")
    (fake / "git").chmod(0o755)
    monkeypatch.setenv("PATH", str(fake))
    assert git_state(tmp_path) == {"commit": None, "dirty": None,
                                   "note": "git failed: fatal: detected dubious ownership in repository"}


def test_the_report_states_the_commit_or_why_there_is_none():
    run = {"git": {"commit": "0123456789abcdef", "dirty": True}}
    assert "git 0123456789ab (dirty)" in _run_section(run).text
    run = {"git": {"commit": None, "dirty": None, "note": "not a git checkout"}}
    assert "git: none (the spec's folder: not a git checkout)" in _run_section(run).text
    assert not any(line.startswith("git None") for line in _run_section(run).text)
