"""Resolve stage, local files: every path a spec names, made absolute against the spec file's folder and checked.

Input: the `Spec`, the error `Context` (whose `SourceMap` says where the spec file is). Output: the absolute path of
each local file or folder the spec names (the plan carries these, so a run reads the same files from any working
directory) and located errors for files that cannot be read the way the run will read them.

A relative path is taken relative to the folder holding the spec file, never the working directory; `~` is the home
folder; a spec built in code (no file) resolves against the working directory. Each file is read here with the
reader the run uses (or its format check), so a malformed one is refused at validate, not after the steps before it:

    sources.<s>.token_types   token-type labels, JSON          interference/labels.py  read_labels
    prompts.path              sentences, JSON (source: file)   interventions/sentences.py  read_file
    transfer.sets             token sets, JSON                 transfer/sets.py  load_token_sets
    transfer.prompt_sets      type sentences, JSON or text     transfer/sets.py  load_prompt_sets
    atlas.corpus              .txt / .jsonl file or folder     atlas/corpus.py  check_corpus (head of each file)
    atlas.explanations.path   Neuronpedia export folder        atlas/neuronpedia.py  check_export (layout)

The study's own files (the first four) must exist. The corpus and the Neuronpedia export are downloaded datasets,
like model weights: when present they are checked here; whether they are present is checked when
`require_data=True` (before a run), so a spec naming the paper's data still validates on a machine without it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interf_dsl._source import KeyPath
from interf_dsl.atlas.corpus import check_corpus
from interf_dsl.atlas.neuronpedia import check_export
from interf_dsl.errors import InterfError, SpecError
from interf_dsl.interference.labels import read_labels
from interf_dsl.interventions.sentences import read_file as read_sentences
from interf_dsl.resolve.context import Context


@dataclass(frozen=True)
class LocalPath:
    """One local path a spec names."""

    key: KeyPath
    """Where the spec names it."""
    written: str
    """As written in the spec."""
    path: str
    """Absolute."""
    kind: str
    """What it holds: a key of `FORMATS` (token_types, sentences, sets, prompt_sets, corpus, export)."""

    @property
    def data(self) -> bool:
        """A downloaded dataset (corpus, export): its presence is only required with `require_data`."""
        return self.kind in ("corpus", "export")


@dataclass(frozen=True)
class Format:
    """How the run reads one kind of file, and how to say what it should be."""

    read: Callable[[Any, str], Any]
    """(spec, absolute path) -> anything; raises an `InterfError` where the run would."""
    noun: str
    """What the path names, in a message: `token-type file`."""
    what: str
    """What to name instead, e.g. `token-type file (JSON)`."""
    shape: str | None
    """The documented format, shown as a hint."""


def spec_folder(ctx: Context) -> Path:
    """The folder relative paths resolve against: the spec file's, or the working directory for a spec in code."""
    path = ctx.smap.path if ctx.smap is not None else ""
    if not path or path.startswith("<"):
        return Path.cwd()
    return Path(os.path.abspath(path)).parent


def absolute(written: str, base: Path) -> str:
    """`written` (relative to `base`, or absolute, or under `~`) as a normalised absolute path."""
    return os.path.normpath(base / Path(written).expanduser())


def shown(path: str) -> str:
    """A path for messages: relative to the working directory when under it, else absolute."""
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def local_paths(spec: Any, base: Path) -> list[LocalPath]:
    """Every local file or folder the spec names and will read (zoo references and unused paths left out)."""
    out: list[LocalPath] = []

    def add(key: KeyPath, written: str | None, kind: str) -> None:
        if written:
            out.append(LocalPath(key, written, absolute(written, base), kind))

    for name, src in spec.sources.items():
        add(("sources", name, "token_types"), src.token_types, "token_types")
    if not spec.atlas.corpus.startswith("zoo:"):
        add(("atlas", "corpus"), spec.atlas.corpus, "corpus")
    if spec.atlas.explanations.kind == "neuronpedia":
        add(("atlas", "explanations", "path"), spec.atlas.explanations.path, "export")
    if spec.prompts.source == "file":
        add(("prompts", "path"), spec.prompts.path, "sentences")
    if spec.transfer is not None:
        add(("transfer", "sets"), spec.transfer.sets, "sets")
        add(("transfer", "prompt_sets"), spec.transfer.prompt_sets, "prompt_sets")
    return out


def check_files(spec: Any, paths: list[LocalPath], ctx: Context, require_data: bool) -> None:
    """Each path exists (datasets: with `require_data`) and reads the way the run reads it; errors go to `ctx`."""
    for lp in paths:
        fmt = FORMATS[lp.kind]
        if not os.path.exists(lp.path):
            if lp.data and not require_data:
                continue
            rel = "" if Path(lp.written).expanduser().is_absolute() else " (a relative path starts at the spec's folder)"
            ctx.error(f"{fmt.noun} {shown(lp.path)} does not exist", lp.key, hint=f"name an existing {fmt.what}{rel}")
            continue
        try:
            fmt.read(spec, lp.path)
        except InterfError as exc:
            item = exc.items[0]
            message = item.message.replace(lp.path, shown(lp.path))
            if item.span is not None and item.span.path == lp.path:  # located inside the data file
                message = f"{shown(lp.path)}:{item.span.line}:{item.span.col}: {message}"
            ctx.error(message, lp.key, name=item.name, choices=item.choices,
                      hint=item.hint or (None if item.choices else fmt.shape))
        except OSError as exc:  # a folder where a file is expected, no permission, ...
            ctx.error(f"{fmt.noun} {shown(lp.path)} cannot be read ({exc.strerror or exc})", lp.key,
                      hint=f"name a readable {fmt.what}")


def _token_sets(spec: Any, path: str) -> None:
    from interf_dsl.transfer.sets import load_token_sets  # lazy: numpy, only for a spec naming external sets

    _covers(spec, path, load_token_sets(path), "token sets")


def _prompt_sets(spec: Any, path: str) -> None:
    from interf_dsl.transfer.sets import load_prompt_sets  # lazy: numpy, only for external sentences

    _covers(spec, path, {t: v for t, v in load_prompt_sets(path).items() if v}, "type sentences")


def _covers(spec: Any, path: str, by_type: dict[str, Any], what: str) -> None:
    """Every transfer type has its entry in an external file (the transfer step refuses a type without one)."""
    missing = [t for t in spec.transfer.types if t not in by_type]
    if missing:
        raise SpecError(f"{path} has no {what} for transfer type(s) {', '.join(missing)}", name=missing[0],
                        choices=tuple(sorted(by_type)))


FORMATS: dict[str, Format] = {
    "token_types": Format(lambda spec, path: read_labels(path), "token-type file", "token-type file (JSON)",
                          'JSON {token_string: type}, e.g. {" Paris": "location"}'),
    "sentences": Format(lambda spec, path: read_sentences(path), "sentences file", "sentences file (JSON)",
                        'JSON {"vocab": {token: [sentences]}, "type": {type: [sentences]}}'),
    "sets": Format(_token_sets, "token-sets file", "token-sets file (JSON)",
                   'JSON {"types": {type: {"target": [...], "high": [...], "medium": [...], "random": [...]}}}'),
    "prompt_sets": Format(_prompt_sets, "type-sentences file", "sentences file (.json or .txt)",
                          "JSON {type: [sentences]}, or text with a [type] line before each type's sentences"),
    "corpus": Format(lambda spec, path: check_corpus(path), "corpus", ".txt/.jsonl file or a folder of them",
                     'plain text (documents apart by a blank line) or JSONL, one {"text": ...} per line'),
    "export": Format(lambda spec, path: check_export(path), "Neuronpedia export", "Neuronpedia export folder",
                     "features/, activations/, explanations/, each with batch-<k>.jsonl.gz from k = 0"),
}
"""Each kind of local file: the run's reader (or its format check) and how to describe it."""
