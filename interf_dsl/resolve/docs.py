"""Resolve stage, docs: the parts of specs/README.md that are read from the registries, kept in step by a test.

Input: the registries (`catalogs.kind_entries`) and the registered foci's params models. Output: markdown — the
"Registered names" block and one key table per focus. `python -m interf_dsl.resolve.docs [README]` rewrites them
in place (run it after adding a focus or a registered name); `tests/unit/parse/test_docs_and_cli.py` fails while
the README is behind.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from interf_dsl.foci import FOCI
from interf_dsl.parse.fmt import key_default_text
from interf_dsl.resolve.listing import registered_names_markdown

README = Path(__file__).resolve().parents[2] / "specs" / "README.md"
FOCUS_HEADING = "### `interventions[] focus: "
NEXT_HEADING = "### `prompts`"


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def key_table(model: type[BaseModel]) -> str:
    """`| key | default | meaning |` rows of a spec model, from its fields' defaults and docstrings."""
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for name, field in model.model_fields.items():
        rows.append(f"| `{name}` | {key_default_text(model, name)} | {_one_line(field.description)} |")
    return "\n".join(rows) + "\n"


def focus_sections() -> str:
    """One `### interventions[] focus: <name>` section per registered focus, in registry order."""
    parts = []
    for entry in FOCI:
        model: Any = entry.params
        parts.append(f"{FOCUS_HEADING}{entry.name}`\n\n{_one_line(model.__doc__)}\n\n{key_table(model)}")
    return "\n".join(parts) + "\n"


def rendered(text: str) -> str:
    """`text` (the README) with its registry-derived parts regenerated."""
    start, end = text.index("**focus**:"), text.index("## Every key")
    text = text[:start] + registered_names_markdown() + "\n" + text[end:]
    start, end = text.index(FOCUS_HEADING), text.index(NEXT_HEADING)
    return text[:start] + focus_sections() + text[end:]


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else README
    text = path.read_text(encoding="utf-8")
    new = rendered(text)
    if new != text:
        path.write_text(new, encoding="utf-8")
        print(f"updated {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
