"""CLI verbs for this area (see interf_dsl/cli.py). Owned by one area; add verbs with @app.command in register()."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach this area's verbs to the main app."""
