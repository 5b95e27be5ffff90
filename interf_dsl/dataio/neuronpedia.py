"""Import, Neuronpedia exports: downloaded per-SAE export folders -> one export folder serving several sources and
hooks (`atlas.explanations.path`, docs/data-formats.md).

Layout written: `TO/<source>/<hook>/{features,activations,explanations}/batch-<k>.jsonl.gz`, `<source>` a source
name of the spec and `<hook>` its short hook name (`L1.resid_post`); the explain step of `<source>/<hook>` reads that
folder (`atlas.neuronpedia.sae_folder`). Input: a downloaded tree (Neuronpedia names its folders
`<model>/<layer>-<set>/`, e.g. `gpt2-small/8-res-jb/`) and an explicit table `--sae SOURCE/HOOK=SUBFOLDER`
(repeatable; `.` for a tree that is one SAE's export), since a Neuronpedia set name does not say which hook it is.

Converted, each said in the result: batches renumbered from 0 in their order (`batch-1..n`, gaps), uncompressed
`batch-<k>.jsonl` compressed. Refused: a mapping to a folder without the three parts, a record without an integer
`index`, a malformed hook or an SAE mapped twice. SAE folders of the tree that no `--sae` names are listed.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
from pathlib import Path
from typing import Any

from interf_dsl.atlas.neuronpedia import PARTS, check_export
from interf_dsl.dataio.common import ImportResult, parse_pairs
from interf_dsl.errors import InterfError, Span, SpecError
from interf_dsl.lang.ast import short_hook
from interf_dsl.lang.expr import parse_hooks

_BATCH = re.compile(r"^batch-(\d+)\.jsonl(\.gz)?$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def import_neuronpedia(src: str | Path, to: str | Path, saes: list[str]) -> ImportResult:
    """Copy the SAE exports `saes` names (`SOURCE/HOOK=SUBFOLDER`) from `src` into the layout of `to`.

    Raises:
        SpecError: a malformed mapping, a folder that is no export, unreadable records.
    """
    src, to = Path(src), Path(to)
    result = ImportResult("neuronpedia", str(src), str(to))
    table = parse_pairs(saes, "--sae")
    if not table:
        raise SpecError("name at least one SAE: --sae SOURCE/HOOK=SUBFOLDER",
                        hint="e.g. --sae gpt2/L8.resid_post=gpt2-small/8-res_post_32k-oai; '.' for a flat export")
    targets: dict[str, Path] = {}
    for spec, sub in table.items():
        name = _sae_name(spec)
        if name in targets:
            raise SpecError(f"--sae maps {name} twice ({targets[name]} and {sub})")
        targets[name] = (src / sub).resolve()
    for name, folder in targets.items():
        result.summary[name] = _copy_sae(folder, to / name, result)
        check_export(to / name)  # what validate will check
    found = {p.parent.resolve() for p in src.rglob("features") if p.is_dir()}
    left = sorted(str(p.relative_to(src.resolve())) or "." for p in found - set(targets.values()))
    if left:
        result.warnings.append(f"{len(left)} SAE export(s) under {src} not imported (no --sae names them): "
                               + ", ".join(left[:8]) + (", ..." if len(left) > 8 else ""))
    return result


def _sae_name(spec: str) -> str:
    """`SOURCE/HOOK` with the hook in its short form (`L1.resid_post`; a canonical name is shortened)."""
    source, sep, hook = spec.partition("/")
    if not sep or not _NAME.match(source) or not hook:
        raise SpecError(f"--sae {spec!r}: expected SOURCE/HOOK, e.g. gpt2/L1.resid_post",
                        hint="SOURCE is a source name of the spec (letters, digits, _, ., -)")
    try:
        items = parse_hooks(hook)
    except InterfError as exc:
        raise SpecError(f"--sae {spec!r}: {exc.items[0].message}", hint=exc.items[0].full_hint()) from None
    if len(items) != 1:
        raise SpecError(f"--sae {spec!r} names {len(items)} hooks; one --sae per SAE")
    return f"{source}/{short_hook(items[0].canonical)}"


def _copy_sae(folder: Path, out: Path, result: ImportResult) -> dict[str, Any]:
    if not folder.is_dir() or any(not (folder / p).is_dir() for p in PARTS):
        raise SpecError(f"{folder} is no Neuronpedia export: it needs the folders {', '.join(p + '/' for p in PARTS)}",
                        hint="point --sae at the folder that holds them")
    if out.exists():
        shutil.rmtree(out)
    nums: dict[str, Any] = {}
    for part in PARTS:
        batches = sorted(((int(m.group(1)), p) for p in (folder / part).iterdir() if (m := _BATCH.match(p.name))),
                         key=lambda kv: kv[0])
        if not batches:
            raise SpecError(f"{folder / part} holds no batch-<k>.jsonl.gz file")
        (out / part).mkdir(parents=True)
        numbers = [k for k, _ in batches]
        if numbers != list(range(len(numbers))):
            result.note(f"{out.parent.name}/{out.name}/{part}: batches {numbers[0]}..{numbers[-1]} renumbered 0..{len(numbers) - 1}")
        plain = [p.name for _, p in batches if p.suffix != ".gz"]
        if plain:
            result.note(f"{out.parent.name}/{out.name}/{part}: {len(plain)} uncompressed batch(es) gzipped")
        records = 0
        for k, (_, path) in enumerate(batches):
            records += _records(path)
            dest = out / part / f"batch-{k}.jsonl.gz"
            if path.suffix == ".gz":
                shutil.copyfile(path, dest)
            else:
                with path.open("rb") as fin, gzip.open(dest, "wb") as fout:
                    shutil.copyfileobj(fin, fout)
        nums[f"{part} records"] = records
    return nums


def _records(path: Path) -> int:
    """Records of one batch, each checked for an integer `index` (as the reader needs)."""
    opener = gzip.open if path.suffix == ".gz" else open
    n = 0
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for i, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                rec = json.loads(line)
                try:
                    int(rec["index"])
                except (KeyError, TypeError, ValueError):
                    raise SpecError(f"{path}: record on line {i} has no integer 'index'",
                                    span=Span(str(path), i, 1)) from None
                n += 1
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SpecError(f"{path} is unreadable ({exc})") from None
    return n
