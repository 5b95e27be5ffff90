"""Transient faults stay transient: the capability probe retries like any request, a sampling fallback is a recorded
decision kept only when the endpoint consistently answers without logprobs, and 401/403 and malformed JSON bodies
are errors of their own kind. Every request goes over HTTP through litellm to `interf serve` (tests/transfer_server.py),
with faults forced per request by `ScriptedFaults` or drawn by the app's `FaultConfig`."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from helpers import SENTENCES, make_ctx, tiny_token_sets
from polars.testing import assert_frame_equal
from transfer_server import faults_for, served

from interf_dsl.errors import AuthError, MalformedResponseError, render_error
from interf_dsl.plan.ir import Plan, Step, seal_steps
from interf_dsl.steps import get_runner
from interf_dsl.transfer.answers import Query
from interf_dsl.transfer.client import TransferClient
from interf_dsl.transfer.faults import FaultConfig
from interf_dsl.transfer.probe import PROBE_PROMPTS
from interf_dsl.transfer.session import run_sync
from interf_dsl.transfer.targets import TargetSpec

TABLES = ("transfer_trials", "transfer", "transfer_grid", "transfer_ratio")


def _target(base: str, **kw) -> dict:
    return {"name": "tiny", "model": "openai/tiny", "api_base": base, "top_k": 10, "concurrency": 8,
            "backoff_s": 0.01, "timeout_s": 5, **kw}


def _same(a, b) -> None:
    for name in TABLES:
        assert_frame_equal(a.tables[name], b.tables[name])


def _healthy(tmp_path: Path):
    with served(threads=1) as base:
        return get_runner("transfer")(make_ctx(tmp_path / "healthy", _target(base)))


def _probe_logprob_500(n: int, body: bytes) -> str | None:
    """Every probe request that asks for logprobs fails with a 500; everything else is answered."""
    asks_logprobs = b'"logprobs"' in body or b'"top_logprobs"' in body
    return "500" if asks_logprobs and any(p.encode() in body for p in PROBE_PROMPTS) else None


def test_probe_retries_transient_faults_like_any_request(tmp_path):
    """Each probe request meets a 500, a 429, a timeout and a malformed body before it gets through: the step
    follows the healthy protocol, its tables equal a healthy run's, and nothing is marked transient."""
    healthy = _healthy(tmp_path)
    script = faults_for(PROBE_PROMPTS, ["500", "429", "stall", "malformed"])
    with served(threads=1, script=script, faults=FaultConfig(stall_s=3.0, retry_after_s=0.01)) as base:
        faulted = get_runner("transfer")(make_ctx(tmp_path / "faulted", _target(base, timeout_s=1)))
    _same(healthy, faulted)
    assert faulted.meta["protocol"] == healthy.meta["protocol"]
    decision = faulted.meta["probe"]
    assert decision["transient"] is None and decision["fallback"] is None and "transient" not in faulted.meta
    raw = [r for r in decision["evidence"] if r["mode"] == "raw"]
    assert [r["outcome"] for r in raw] == ["logprobs"] * 3
    assert all(r["attempts"] == 5 and r["errors"] == {"500": 1, "429": 1, "timeout": 1, "malformed": 1}
               for r in raw)


def test_fallback_caused_by_transient_errors_is_recorded_not_kept(tmp_path):
    """Retries exhausted on 500s: the step falls back to sampling, records why, keeps no probe unit and marks its
    result transient; the next run, against a healthy endpoint, probes again and matches a healthy run."""
    run, work = get_runner("transfer"), tmp_path / "work"
    with served(threads=1, script=_probe_logprob_500) as base:
        first = run(make_ctx(work, _target(base, max_retries=2)))
    assert first.meta["protocol"]["estimator"] == "sampling"
    assert "transient errors (500 x9)" in first.meta["transient"]
    fallback = first.meta["probe"]["fallback"]
    assert fallback["outcomes"] == {"transient": 3} and fallback["errors"] == {"500": 9}
    assert fallback["probe_requests"] == 3 and fallback["prompts"] == list(PROBE_PROMPTS)
    assert fallback["endpoint"] == f"{base}/completions" and fallback["missing"] == "top 10 logprobs"
    assert not make_ctx(work, _target(base)).units("probe").done("probe")  # the decision is not kept
    with served(threads=1) as base:
        second = run(make_ctx(work, _target(base)))
    assert second.meta["protocol"]["estimator"] == "logprobs" and "transient" not in second.meta
    _same(_healthy(tmp_path), second)


def test_logprobs_missing_at_first_then_back_is_not_kept(tmp_path):
    """The issue's case: the first 40 requests (every probe request) come back without logprobs, then the endpoint
    recovers. The fallback is checked after the trials, found unconfirmed, not kept; a rerun matches a healthy run."""
    posts: list[int] = []

    def first_40(n: int, body: bytes) -> str | None:
        posts.append(n)
        return "no_logprobs" if n < 40 else None

    run, work = get_runner("transfer"), tmp_path / "work"
    with served(threads=1, script=first_40) as base:
        first = run(make_ctx(work, _target(base)))
    assert first.meta["protocol"]["estimator"] == "sampling"
    decision = first.meta["probe"]
    assert decision["fallback"]["outcomes"] == {"missing_logprobs": 3}
    assert decision["fallback"]["answered_without_logprobs"] == 15  # 3 prompts x (1 + 4 retries)
    assert decision["confirmed"] is False and decision["evidence"][-1]["outcome"] == "logprobs"
    assert "not confirmed" in first.meta["transient"]
    assert not make_ctx(work, _target(base)).units("probe").done("probe")
    with served(threads=1) as base:
        second = run(make_ctx(work, _target(base)))
    assert second.meta["protocol"]["estimator"] == "logprobs"
    _same(_healthy(tmp_path), second)


def test_consistent_answers_without_logprobs_make_a_kept_fallback(tmp_path):
    """200 answers without logprobs on every probe request and again after the trials: the fallback is confirmed,
    kept as the probe unit, and a rerun re-aggregates it without a request."""
    run = get_runner("transfer")
    target = {"max_retries": 1, "samples": 4}
    with served(threads=1, faults=FaultConfig({"no_logprobs": 1.0})) as base:
        first = run(make_ctx(tmp_path, _target(base, **target), trials=2, sentences=2))
    decision = first.meta["probe"]
    assert decision["transient"] is None and decision["confirmed"] is True and "transient" not in first.meta
    assert decision["fallback"]["answered_without_logprobs"] == 6 and decision["fallback"]["confirmed"] is True
    assert make_ctx(tmp_path, _target(base)).units("probe").done("probe")
    again = run(make_ctx(tmp_path, _target("http://127.0.0.1:9/v1", **target), trials=2, sentences=2))
    assert again.meta["reaggregated"] and again.meta["accounting"]["requests"] == 0
    assert again.meta["probe"]["confirmed"] is True
    _same(first, again)


@pytest.mark.parametrize("status", ["401", "403"])
def test_refused_key_fails_fast_as_an_auth_error(tmp_path, monkeypatch, status):
    monkeypatch.setenv("INTERF_TEST_KEY", "sk-test-0123456789abcdefghij")
    posts: list[int] = []

    def refuse(n: int, body: bytes) -> str:
        posts.append(n)
        return status

    with served(threads=1, script=refuse) as base:
        with pytest.raises(AuthError) as err:
            get_runner("transfer")(make_ctx(tmp_path, _target(base, api_key_env="INTERF_TEST_KEY")))
    assert posts == [0]  # no retry, no fallback probe without logprobs, no other endpoint
    text = render_error(err.value)
    assert text.startswith("auth error: target tiny:") and f"{base}/completions" in text
    assert "$INTERF_TEST_KEY" in text and "hint: check the key" in text
    assert "sk-test-0123" not in text


def test_malformed_json_is_its_own_error_kind(tmp_path):
    with served(threads=1, faults=FaultConfig({"malformed": 1.0})) as base:
        with pytest.raises(MalformedResponseError) as err:
            get_runner("transfer")(make_ctx(tmp_path / "step", _target(base, max_retries=1)))
        text = render_error(err.value)
        assert text.startswith("malformed response: target tiny:") and f"{base}/completions" in text
        assert '\'{"id": "x", "choices": [{"text": \'' in text  # a short excerpt of the body
        client = TransferClient(TargetSpec.from_params(_target(base, max_retries=2)), tmp_path / "cache")
        with pytest.raises(MalformedResponseError, match="answered 3 attempt"):
            run_sync(client.ask(Query("hello", k=3)))
    assert dict(client.acct.errors) == {"malformed": 3}  # not counted as a "500"


def _transfer_plan(tmp_path: Path, base: str, **target_kw) -> Plan:
    """A plan of one transfer step whose token sets and type sentences are files (no source steps)."""
    sets: dict = {}
    for r in tiny_token_sets().filter(pl.col("source") == "union").iter_rows(named=True):
        sets.setdefault(r["type"], {}).setdefault(r["level"], []).append(r["token_str"])
    (tmp_path / "sets.json").write_text(json.dumps(sets))
    (tmp_path / "prompts.json").write_text(json.dumps(SENTENCES))
    params = {"target": _target(base, **target_kw), "metrics": {},
              "stats": {"mode": "both", "bootstrap": 200, "ci": 0.95},
              "transfer": {"types": ["location", "animal"], "sentences": 4, "trials": 3, "tokens_per_trial": 5,
                           "sets": str(tmp_path / "sets.json"), "prompt_sets": str(tmp_path / "prompts.json")}}
    steps = seal_steps([Step(id="transfer:tiny", kind="transfer", params=params)], "test")
    return Plan(experiment="faults", preset="rigorous", seed=3, spec_sha256="0" * 64, steps=steps)


def test_engine_never_caches_a_transient_fallback(tmp_path):
    """Through the engine and the run directory: a run whose probe met transient faults writes its (sampling)
    tables but caches nothing; the next, healthy run recomputes and its tables equal a healthy run's."""
    from interf_dsl.pipeline import run_plan

    def run(base: str, cache: str, run_id: str, **kw):
        rec = run_plan(_transfer_plan(tmp_path, base, **kw), spec_path=tmp_path / "spec.yaml", spec_text="x",
                       resolved_json="{}", reports_root=tmp_path / "reports", cache_dir=tmp_path / cache,
                       quiet=True, run_id=run_id)
        tables = {t: pl.read_parquet(Path(rec.run_dir) / "tables" / f"{t}.parquet") for t in TABLES}
        return rec, tables

    with served(threads=1) as base:
        _, healthy = run(base, "cache-a", "healthy")
    with served(threads=1, script=_probe_logprob_500) as base:
        rec, faulted = run(base, "cache-b", "faulted", max_retries=1)
    step = rec.steps[0]
    assert not step.cache_hit and "transient errors" in step.meta["transient"]
    assert set(faulted["transfer"]["estimator"]) == {"sampling"}
    run_json = json.loads((Path(rec.run_dir) / "run.json").read_text())
    assert run_json["record"]["steps"][0]["meta"]["probe"]["fallback"]["errors"] == {"500": 6}
    cache = tmp_path / "cache-b"
    assert not any((cache / "steps").iterdir()) and not any((cache / "tmp").iterdir())
    with served(threads=1) as base:
        rec2, recovered = run(base, "cache-b", "recovered")
        rec3, _ = run(base, "cache-b", "again")
    assert not rec2.steps[0].cache_hit and rec3.steps[0].cache_hit
    for name in TABLES:
        assert_frame_equal(healthy[name], recovered[name])
