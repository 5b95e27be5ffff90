"""Every document the repository cites is in the repository: method citations point at `docs/method.md` sections
that exist, nothing names the old out-of-tree `METHOD.md`, and relative Markdown links resolve."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
METHOD = ROOT / "docs" / "method.md"
# a citation: "docs/method.md §8.10", "docs/method.md §5.3, §6.2", "docs/method.md §1-§6"
CITATION = re.compile(r"docs/method\.md((?:[ ,;(]*(?:and |or |-|–)?\s*§[0-9]+(?:\.[0-9]+)?[a-z]?)+)")
SECTION = re.compile(r"§([0-9]+(?:\.[0-9]+)?[a-z]?)")


def _tracked_text_files() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files are unknown")
    files = []
    for name in out.decode().split("\0"):
        path = ROOT / name
        if name and path.is_file() and path.suffix in {".py", ".md", ".yaml", ".yml", ".interf", ".txt", ".toml",
                                                        ".lark", ".sh", ".json", ".cfg"}:
            files.append(path)
    return files


def _method_sections() -> set[str]:
    sections = set()
    for line in METHOD.read_text(encoding="utf-8").splitlines():
        match = re.match(r"#{2,4} ([0-9]+(?:\.[0-9]+)?[a-z]?)\.? ", line)
        if match:
            sections.add(match.group(1))
    return sections


def test_method_reference_is_in_the_repository() -> None:
    assert METHOD.is_file()
    assert {"1", "2.4", "3.2", "5.3a", "6.2", "7.5", "8", "8.10", "8.15", "9", "10", "12"} <= _method_sections()


def test_no_file_names_the_out_of_tree_method_reference() -> None:
    offenders = [f"{path.relative_to(ROOT)}:{n}" for path in _tracked_text_files() if path != Path(__file__)
                 for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
                 if re.search(r"(?<![\w/])METHOD(\.md)?\b|shared/reference", line)]
    assert not offenders, "cites a document the repository does not hold: " + ", ".join(offenders)


def test_every_method_citation_names_an_existing_section() -> None:
    sections = _method_sections()
    missing, count = [], 0
    for path in _tracked_text_files():
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for match in CITATION.finditer(line):
                for section in SECTION.findall(match.group(1)):
                    count += 1
                    if section not in sections:
                        missing.append(f"{path.relative_to(ROOT)}:{n}: §{section}")
    assert count > 100  # the code cites the method widely; a broken pattern would find nothing
    assert not missing, "cites sections docs/method.md does not have: " + ", ".join(missing)


def test_relative_markdown_links_resolve() -> None:
    broken = []
    for path in _tracked_text_files():
        if path.suffix != ".md":
            continue
        text = path.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            if not (path.parent / target.split("#", 1)[0]).exists():
                broken.append(f"{path.relative_to(ROOT)}: {target}")
    assert not broken, "links to files the repository does not hold: " + ", ".join(broken)
