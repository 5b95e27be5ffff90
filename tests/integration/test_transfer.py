"""Transfer to the zoo's target-tiny over real HTTP: the step starts `interf serve` itself (`serve:`), probes it,
runs the trials through litellm and stops the server; the API key of a key-env target never reaches the disk."""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "transfer"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def zoo_sets():
    from interf_dsl.errors import InterfError

    try:
        from interf_dsl.backends.loading import load_model
        from interf_dsl.zoo.catalog import read_token_types

        model = load_model("zoo:target-tiny")
        types = read_token_types()
    except (InterfError, ImportError, FileNotFoundError) as exc:
        pytest.skip(f"zoo not built: {exc}")
    tok = model.tokenizer
    by_type: dict[str, list[str]] = {}
    for tid, typ in sorted(types.items()):
        by_type.setdefault(typ, []).append(tok.decode([tid]))
    rows = []
    for typ in ("location", "number"):
        other = [s for t, v in by_type.items() if t not in (typ, "unknown") for s in v]
        levels = {"target": by_type[typ], "high": other[:200], "medium": other[200:600], "random": other[600:1600]}
        rows += [{"source": "union", "type": typ, "level": lv, "token_id": i, "token_str": s}
                 for lv, strs in levels.items() for i, s in enumerate(strs)]
    return pl.DataFrame(rows)


def test_transfer_to_served_zoo_target(tmp_path, zoo_sets, monkeypatch):
    from helpers import make_ctx

    from interf_dsl.steps import StepResult, get_runner

    sentences = pl.DataFrame([{"sentence_id": i, "kind": "type", "token_str": None, "type": t, "text": s,
                               "split": "eval", "name": t}
                              for i, (t, s) in enumerate([("location", "We finally arrived in"),
                                                          ("location", "The treasure is buried somewhere in"),
                                                          ("number", "The recipe calls for exactly"),
                                                          ("number", "She counted to")])])
    ctx = make_ctx(tmp_path, {"name": "target-tiny", "model": "openai/target-tiny", "serve": "zoo:target-tiny",
                              "top_k": 10}, trials=4, sentences=2)
    ctx.params["transfer"]["types"] = ["location", "number"]
    ctx.inputs["select"] = ("select", StepResult(tables={"token_sets": zoo_sets}))
    ctx.inputs["prompts"] = ("prompts", StepResult(tables={"sentences": sentences}))
    res = get_runner("transfer")(ctx)
    assert res.meta["protocol"] == {**res.meta["protocol"], "estimator": "logprobs", "k": 10}
    assert res.tables["transfer_trials"].height == 2 * 2 * 4 * 4
    assert res.meta["accounting"]["cost_usd"] is None and res.meta["accounting"]["succeeded"] > 0
