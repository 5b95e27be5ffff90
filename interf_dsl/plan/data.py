"""Plan stage: what the imported data files hold for each source and tested type, before anything runs.

`interf plan` prints it under the plan (docs/data-formats.md): per source and type, the labels and how many are single
tokens of the source's vocabulary, the token-set levels and their single tokens, the type sentences and the repeats
left out, and a warning where a type has too little to test. The run's `token_set_coverage` table counts the same
things from the sets it built; this is the check a researcher reads before spending the run.

Input: `Plan` (the select, prompts and transfer steps name the files). Output: rows, or text lines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from interf_dsl.errors import InterfError
from interf_dsl.interference.labels import by_type, read_labels
from interf_dsl.interference.sets_file import read_token_sets
from interf_dsl.interference.token_sets import MIN_TARGET_TOKENS
from interf_dsl.interventions.sentences import read_file as read_sentences
from interf_dsl.plan.ir import Plan
from interf_dsl.transfer.sets import read_prompt_sets

Vocab = Callable[[str], "set[str] | None"]


def model_vocab_or_none(ref: str) -> set[str] | None:
    """The decoded token strings of a model's tokenizer, or None where it cannot be read here (a hub model that is
    not in the local cache): the run counts them then."""
    from interf_dsl.dataio.common import model_vocab  # lazy: transformers, only for a spec that imports data

    try:
        return set(model_vocab(ref))
    except InterfError:
        return None


def _files(plan: Plan) -> dict[str, Any]:
    sel = (plan.step("select").params.get("token_sets") if _has(plan, "select") else None) or {}
    prompts = plan.step("prompts").params["prompts"].get("path") if _has(plan, "prompts") else None
    transfer = next((s.params["transfer"] for s in plan.steps if s.kind == "transfer"), {})
    models = {s.params["source"]: s.params["model"] for s in plan.steps if s.kind == "load_model"}
    return {"types": list(sel.get("types", ())), "labels": sel.get("labels") or {}, "sets": sel.get("sets"),
            "sentences": prompts, "prompt_sets": transfer.get("prompt_sets"), "models": models,
            "wanted": int(transfer.get("sentences") or 0)}


def _has(plan: Plan, step_id: str) -> bool:
    return any(s.id == step_id for s in plan.steps)


def data_coverage(plan: Plan, vocab: Vocab = model_vocab_or_none) -> list[dict[str, Any]]:
    """One row per source and tested type (empty when the plan imports no labels, sets or sentences): `labels`,
    `labels_in_vocab`, `sets` {level: (strings, single tokens)}, `sentences`, `repeats_removed`, `warnings`."""
    f = _files(plan)
    if not f["types"] or not (f["labels"] or f["sets"] or f["sentences"] or f["prompt_sets"]):
        return []
    sets = read_token_sets(f["sets"]) if f["sets"] else None
    sentences = read_sentences(f["sentences"]) if f["sentences"] else None
    prompt_sets = read_prompt_sets(f["prompt_sets"]) if f["prompt_sets"] else None
    rows = []
    for source, ref in f["models"].items():
        known = vocab(ref)
        labels = by_type(read_labels(f["labels"][source])) if source in f["labels"] else None
        for typ in f["types"]:
            row: dict[str, Any] = {"source": source, "type": typ, "vocab_known": known is not None, "warnings": []}
            if labels is not None:
                strings = labels.get(typ, [])
                row["labels"] = len(strings)
                row["labels_in_vocab"] = sum(s in known for s in strings) if known is not None else None
            if sets is not None:
                levels = sets.sets.get(typ, {})
                row["sets"] = {lv: (len(v), sum(s in known for s in v) if known is not None else None)
                               for lv, v in levels.items()}
            _sentences(row, typ, sentences, prompt_sets, f["wanted"])
            _warn(row)
            rows.append(row)
    return rows


def _sentences(row: dict[str, Any], typ: str, sentences: dict | None, prompt_sets: Any, wanted: int) -> None:
    if prompt_sets is not None:
        row["sentences"] = len(prompt_sets.by_type.get(typ, []))
        row["repeats_removed"] = prompt_sets.removed.get(typ, 0)
    elif sentences is not None:
        row["sentences"] = len(sentences["type"].get(typ, []))
        row["repeats_removed"] = sentences["removed"]["type"].get(typ, 0)
    if "sentences" in row and wanted and row["sentences"] < wanted:
        row["warnings"].append(f"{row['sentences']} type sentences, fewer than transfer.sentences = {wanted}")


def _warn(row: dict[str, Any]) -> None:
    """Too little to test: fewer than MIN_TARGET_TOKENS scorable TARGET tokens, or an empty level."""
    scorable = row["sets"].get("target", (0, 0))[1] if "sets" in row else row.get("labels_in_vocab")
    if scorable is not None and scorable < MIN_TARGET_TOKENS:
        where = "TARGET set" if "sets" in row else "labels"
        row["warnings"].append(f"only {scorable} single-token {where} string(s) (< {MIN_TARGET_TOKENS}): "
                               "type_success has little to count")
    empty = [lv for lv, (n, _) in row.get("sets", {}).items() if not n]
    if empty:
        row["warnings"].append(f"empty level(s) {', '.join(empty)}: left out of the conditions")


def render_data(rows: list[dict[str, Any]]) -> str:
    """The rows as text lines under a heading; "" when there are none."""
    if not rows:
        return ""

    def counted(n: int, single: int | None) -> str:
        return f"{n}" if single is None else f"{n} ({single} single-token)"

    lines = ["imported data (per source and type; single tokens of the source's vocabulary):"]
    for r in rows:
        parts = []
        if "labels" in r:
            parts.append(f"labels {counted(r['labels'], r['labels_in_vocab'])}")
        if "sets" in r:
            parts.append("sets " + ", ".join(f"{lv} {counted(n, k)}" for lv, (n, k) in r["sets"].items()))
        if "sentences" in r:
            parts.append(f"sentences {r['sentences']}"
                         + (f" ({r['repeats_removed']} repeats removed)" if r["repeats_removed"] else ""))
        if not r["vocab_known"]:
            parts.append("vocabulary not readable here: single tokens counted at run")
        lines.append(f"  {r['source']}/{r['type']}: " + "; ".join(parts))
        lines += [f"    WARNING: {w}" for w in r["warnings"]]
    return "\n".join(lines)
