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
    atlas.explanations.path   Neuronpedia export folder        atlas/neuronpedia.py  check_export (each SAE's folder)

Beyond the format, what the study asks of the file: every type a type-injection block or `transfer.types` tests has
labels (`token_types`), type sentences (`prompts.path`, `transfer.prompt_sets`) and token sets (`transfer.sets`);
every SAE of the spec has its folder `<source>/<hook>/` in a Neuronpedia export (docs/data-formats.md).

The study's own files (the first four) must exist, except a hub model's token-type labels, which are made once its
tokenizer is downloaded. Those, the corpus and the Neuronpedia export are datasets,
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
from interf_dsl.interference.labels import by_type, read_labels
from interf_dsl.interference.sets_file import load_token_sets
from interf_dsl.interventions.sentences import read_file as read_sentences
from interf_dsl.lang.ast import short_hook
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
    dataset: bool = False
    """Prepared for a download (a hub model's token-type labels): treated like the corpus and the export."""

    @property
    def data(self) -> bool:
        """A downloaded dataset (corpus, export) or one prepared for a download: its presence is only required with
        `require_data`; when present it is read as the run reads it."""
        return self.dataset or self.kind in ("corpus", "export")


@dataclass(frozen=True)
class Format:
    """How the run reads one kind of file, and how to say what it should be."""

    read: Callable[[Any, str, KeyPath], Any]
    """(spec, absolute path, the key naming it) -> anything; raises an `InterfError` where the run would."""
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

    def add(key: KeyPath, written: str | None, kind: str, dataset: bool = False) -> None:
        if written:
            out.append(LocalPath(key, written, absolute(written, base), kind, dataset))

    for name, src in spec.sources.items():
        # a hub model's vocabulary labels are made once its tokenizer is downloaded, like the paper's data
        hub = not src.model.startswith("zoo:") and not Path(absolute(src.model, base)).exists()
        add(("sources", name, "token_types"), src.token_types, "token_types", dataset=hub)
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
            fmt.read(spec, lp.path, lp.key)
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


def requested_types(spec: Any, source: str | None = None, *, transfer: bool = True) -> dict[str, str]:
    """Token types the spec tests, each with the key that asks for it: the types of every type-injection prompt
    block (those running on `source`, when given) and, with `transfer`, `transfer.types`."""
    out: dict[str, str] = {}
    for i, block in enumerate(spec.interventions):
        if block.focus != "prompt" or getattr(block, "mode", None) != "type_injection":
            continue
        if source is not None and block.sources is not None and source not in block.sources:
            continue
        for t in block.types:
            out.setdefault(t, f"interventions[{i}].types")
    if transfer and spec.transfer is not None:
        for t in spec.transfer.types:
            out.setdefault(t, "transfer.types")
    return out


def _lacking(requested: dict[str, str], have: Any) -> str | None:
    """`type (asked by key)` for the requested types that `have` lacks, or None."""
    missing = [t for t in requested if not have.get(t)]
    return ", ".join(f"{t} (asked by {requested[t]})" for t in missing) if missing else None


def _labels(spec: Any, path: str, key: KeyPath) -> None:
    """The labels read; every type a type-injection block of this source (or transfer without external sets) tests
    labels at least one token: without, that type's TARGET set would be empty."""
    labels = read_labels(path)
    wanted = requested_types(spec, str(key[1]), transfer=spec.transfer is not None and not spec.transfer.sets)
    missing = _lacking(wanted, by_type(labels))
    if missing:
        raise SpecError(f"{path} labels no token with type(s) {missing}", name=next(iter(wanted)),
                        hint="label tokens of those types, or leave the types out of the study; "
                             f"the file labels: {', '.join(sorted(by_type(labels)))}")


def _sentences(spec: Any, path: str, key: KeyPath) -> None:
    """The prompts file read; every type the study tests has type sentences in it (the prompts step takes them
    only from the file), except transfer types whose sentences come from transfer.prompt_sets."""
    data = read_sentences(path)
    wanted = requested_types(spec, transfer=spec.transfer is not None and not spec.transfer.prompt_sets)
    missing = _lacking(wanted, data["type"])
    if missing:
        raise SpecError(f"{path} has no type sentences for {missing}",
                        hint='add them under "type", or leave the types out of the study')


def _token_sets(spec: Any, path: str, key: KeyPath) -> None:
    _covers(spec, path, load_token_sets(path), "token sets")


def _prompt_sets(spec: Any, path: str, key: KeyPath) -> None:
    from interf_dsl.transfer.sets import load_prompt_sets  # lazy: numpy, only for external sentences

    _covers(spec, path, {t: v for t, v in load_prompt_sets(path).items() if v}, "type sentences")


def _covers(spec: Any, path: str, by_type: dict[str, Any], what: str) -> None:
    """Every transfer type has its entry in an external file (the transfer step refuses a type without one)."""
    missing = [t for t in spec.transfer.types if t not in by_type]
    if missing:
        raise SpecError(f"{path} has no {what} for transfer type(s) {', '.join(missing)}", name=missing[0],
                        choices=tuple(sorted(by_type)))


def _export(spec: Any, path: str, key: KeyPath) -> None:
    """A Neuronpedia export serves every SAE of the spec: one folder per SAE, `<source>/<hook>/` (`L1.resid_post`),
    each in the export layout; a flat export (the layout at the top) serves a spec with one SAE only."""
    saes = [(name, short_hook(h)) for name, src in spec.sources.items() for g in src.saes for h in g.hooks]
    root = Path(path)
    if (root / "features").is_dir():
        check_export(path)  # its own layout first: a broken flat export is named as such
        if len(saes) > 1:
            raise SpecError(f"Neuronpedia export {path} holds one SAE's data, but the spec has {len(saes)} SAEs "
                            f"({', '.join(f'{s}/{h}' for s, h in saes[:4])}{', ...' if len(saes) > 4 else ''})",
                            hint="put each SAE's export in <source>/<hook>/ under the folder (e.g. "
                                 f"{saes[0][0]}/{saes[0][1]}/features/...); `interf import neuronpedia` does it")
        return
    missing = [f"{s}/{h}" for s, h in saes if not (root / s / h).is_dir()]
    if missing:
        raise SpecError(f"Neuronpedia export {path} has no folder for SAE(s) {', '.join(missing[:6])}"
                        f"{', ...' if len(missing) > 6 else ''}",
                        hint="one folder per SAE, <source>/<hook>/ with features/, activations/, explanations/ "
                             "(docs/data-formats.md); `interf import neuronpedia SRC --to FOLDER --sae "
                             "SOURCE/HOOK=SUBFOLDER` builds it")
    for s, h in saes:
        check_export(root / s / h)


FORMATS: dict[str, Format] = {
    "token_types": Format(_labels, "token-type file", "token-type file (JSON)",
                          'JSON {token_string: type}, e.g. {" Paris": "location"}'),
    "sentences": Format(_sentences, "sentences file", "sentences file (JSON)",
                        'JSON {"vocab": {token: [sentences]}, "type": {type: [sentences]}}'),
    "sets": Format(_token_sets, "token-sets file", "token-sets file (JSON)",
                   'JSON {"types": {type: {"target": [...], "high": [...], "medium": [...], "random": [...]}}}'),
    "prompt_sets": Format(_prompt_sets, "type-sentences file", "sentences file (.json or .txt)",
                          "JSON {type: [sentences]}, or text with a [type] line before each type's sentences"),
    "corpus": Format(lambda spec, path, key: check_corpus(path), "corpus", ".txt/.jsonl file or a folder of them",
                     'plain text (documents apart by a blank line) or JSONL, one {"text": ...} per line'),
    "export": Format(_export, "Neuronpedia export", "Neuronpedia export folder",
                     "<source>/<hook>/ per SAE, each with features/, activations/, explanations/ holding "
                     "batch-<k>.jsonl.gz from k = 0"),
}
"""Each kind of local file: the run's reader (or its format check) and how to describe it."""
