"""Hand-built known answers for the sweep, T_f, prompt protocol, neuron helpers and statistics plumbing."""

import numpy as np
import polars as pl
import pytest

from interf_dsl.errors import SpecError
from interf_dsl.foci.prompt import PromptFocus
from interf_dsl.interventions.neuron import degree_bin, matched_coordinate, parse_degree_bins
from interf_dsl.interventions.prompt_snippets import place, snippet_of
from interf_dsl.interventions.prompt_types import (
    build_injection_prompt,
    sample_trial_tokens,
    type_injection_rows,
)
from interf_dsl.interventions.sweep import (
    Candidate,
    MetricConfig,
    Probe,
    build_edits,
    score_rows,
    sweep_sentence,
)
from interf_dsl.interventions.targets import target_tokens
from interf_dsl.lang.sections import Stats


def test_target_tokens_ratio_and_first_id():
    row = {"top_tokens": ["a", "b", "c", "a"], "top_token_ids": [1, 2, 3, 1], "top_token_acts": [1.0, 9.0, 7.9, 10.0],
           "max_act": 10.0}
    assert target_tokens(row, 0.8, 5) == [("a", 1), ("b", 2)]
    assert target_tokens(row, 0.5, 2) == [("a", 1), ("b", 2)]
    assert target_tokens(row, 0.5, 5, first_id=lambda s: 100 + ord(s)) == [("a", 197), ("b", 198), ("c", 199)]
    with pytest.raises(SpecError):
        target_tokens(row, 0.0, 5)


def test_score_rows_known_values():
    base = np.log(np.array([0.5, 0.25, 0.25]))
    new = np.log(np.array([[0.5, 0.25, 0.25], [0.25, 0.5, 0.25]]))
    probe = Probe([1], np.array([0.0, 1.0, 0.5]))
    s = score_rows(base, new, probe, MetricConfig())
    assert np.allclose(s["wo_base"], 0.25) and np.allclose(s["wo"], [0.25, 0.5])
    assert np.allclose(s["wc"], [0.25 + 0.125, 0.5 + 0.125]) and np.allclose(s["wc_rel"][1], 0.25 / 0.375)
    assert np.allclose(s["kl"][0], 0) and np.allclose(s["tv"][1], 0.25)
    top1 = score_rows(base, new, probe, MetricConfig(top_k=1))
    assert np.allclose(top1["wc"], [0.0, 0.5])  # only the most probable token counts


def test_build_edits_scale_and_add():
    cands = [Candidate("neuron", coordinate=2), Candidate("random_coordinate", coordinate=0)]
    mult, add, index = build_edits(cands, [0.0, 2.0], 4, "scale")
    assert add is None and index == [(0, 0.0), (0, 2.0), (1, 0.0), (1, 2.0)]
    assert mult[1].tolist() == [1, 1, 2, 1] and mult[2].tolist() == [0, 1, 1, 1]
    _, add, _ = build_edits([Candidate("self", vector=np.array([1.0, 0.0]))], [-1.0, 3.0], 2, "add")
    assert add.tolist() == [[-1.0, 0.0], [3.0, 0.0]]


def test_sweep_moves_logits_by_alpha_v_u(fake_backend):
    v = np.zeros(8, np.float32)
    v[0] = 1.0
    probe = Probe([6], np.zeros(fake_backend.d_vocab))
    rows = sweep_sentence(fake_backend, [12, 8], "blocks.0.hook_resid_post", [Candidate("self", vector=v)],
                          [0.0, 5.0], probe, MetricConfig())
    assert rows[0]["kl"] == pytest.approx(0, abs=1e-9)
    logits = fake_backend.W_E[8] @ fake_backend.W_U
    p = np.exp(logits + 5 * v @ fake_backend.W_U)
    assert rows[1]["wo"] == pytest.approx((p / p.sum())[6], rel=1e-5)


def test_injection_protocol():
    assert build_injection_prompt(["a", " b"], "The end") == "(a b)The end"
    assert build_injection_prompt(["x"], "S", "[{tokens}] {sentence}") == "[x] S"
    with pytest.raises(SpecError):
        build_injection_prompt(["x"], "S", "{tokens}")
    rng = np.random.default_rng(0)
    got = sample_trial_tokens(list("abcdef"), 4, rng)
    assert len(got) == 4 and len(set(got)) == 4
    assert sorted(sample_trial_tokens(list("ab"), 30, rng)) == ["a", "b"]


def test_type_injection_rows_counts(fake_backend):
    sents = [{"sentence_id": 0, "text": "The cat is in", "split": "eval"}]
    rows = type_injection_rows(fake_backend, {"target": [" London", " Paris"], "random": ["a", "b", "c"]},
                               [6, 7], sents, PromptFocus(focus="prompt", tokens_per_trial=2, top_k=3, trials=4),
                               np.random.default_rng(0))
    assert len(rows) == 8 and {r["condition"] for r in rows} == {"target", "random"}
    # The fake model's last-token logits depend only on the last token, so injection never changes the count.
    assert all(r["count"] == r["base_count"] and not r["success"] for r in rows)


def test_snippets():
    assert snippet_of(["A", " b", " c", " d"], [0.0, 1.0, 0.9, 0.1], 0.5, 8) == " b c"
    assert snippet_of(["A", " b", " c", " d"], [0.0, 1.0, 0.9, 0.1], 0.5, 1) == " b"
    assert place("x", "S") == "**x**S" and place("x", "S", "", "append") == "Sx"


def test_neuron_helpers():
    bins = parse_degree_bins("1, 2-5, 501+")
    assert degree_bin(1, bins) == "1" and degree_bin(3, bins) == "2-5" and degree_bin(900, bins) == "501+"
    assert degree_bin(100, bins) is None
    var = np.array([1.0, 5.0, 1.1, 9.0])
    assert matched_coordinate(var, 0, np.random.default_rng(0), k=1) == 2


def test_type_effects_table1_stars():
    """Table 1, Pythia Locations (§7.5): High 36.93% vs Random 35.06% with n = 10,000 per arm gives '**'."""
    from interf_dsl.interventions.effects_rates import type_effects

    def arm(rate, cond):
        k = round(rate * 10000)
        s = np.zeros(10000, bool)
        s[:k] = True
        return pl.DataFrame({"source": "pythia", "type": "location", "condition": cond, "success": s,
                             "sentence_id": np.arange(10000) % 100})

    df = pl.concat([arm(0.3693, "high"), arm(0.3253, "medium"), arm(0.3506, "random")])
    eff = pl.DataFrame(type_effects(df, Stats()), infer_schema_length=None)
    paper = {r["level"]: r for r in eff.filter(pl.col("mode") == "paper").iter_rows(named=True)}
    assert paper["high"]["stars"] == "**"
    # Low 32.53 vs 35.06 is a 2.5 pp drop: p < 0.001 at this n, yet the paper prints no star (§7.5 inconsistency).
    assert paper["medium"]["stars"] == "***"
    assert paper["high"]["estimate"] == pytest.approx(0.3693)
    rig = eff.filter(pl.col("estimator") == "diff_vs_random")
    assert set(rig["level"]) == {"high", "medium"} and "cohens_h" in rig.columns


def test_bh_families_are_per_mode_and_role_and_primary_is_marked():
    from interf_dsl.interventions.effects import bh_adjust
    from interf_dsl.stats.proportions import benjamini_hochberg

    ps = {("paper", "wc_rel"): [1e-9, 1e-8, 1e-7], ("rigorous", "wc_rel"): [0.01, 0.04],
          ("rigorous", "wo_rel"): [0.02, 0.03], ("rigorous", "kl_at_wo_alpha"): [0.5]}
    rows = [{"mode": m, "metric": met, "p": p} for (m, met), v in ps.items() for p in v]
    out = bh_adjust([dict(r) for r in rows], 0.05, primary="weighted_overlap")
    assert [r["primary"] for r in out] == [False] * 5 + [True, True, False]
    # the rigorous primary family is {wo_rel}: adjusted alone, not with the paper's tiny p-values or secondaries
    _, primary_q = benjamini_hochberg(np.array([0.02, 0.03]), 0.05)
    assert [r["p_bh"] for r in out if r["primary"]] == pytest.approx(list(primary_q))
    _, secondary_q = benjamini_hochberg(np.array([0.01, 0.04, 0.5]), 0.05)
    assert [r["p_bh"] for r in out if r["mode"] == "rigorous" and not r["primary"]] == pytest.approx(list(secondary_q))
    assert not any(r["primary"] for r in bh_adjust([dict(r) for r in rows], 0.05, primary=None))
    assert {r["bh_family"] for r in out} == {"paper/secondary (3 tests)", "rigorous/secondary (3 tests)",
                                            "rigorous/primary (2 tests)"}


def test_positive_control_reads_the_self_rows():
    from interf_dsl.interventions.effects import positive_control

    def row(tau, lo, level="self", primary=True):
        return {"level": level, "mode": "rigorous", "estimator": "heldout_alpha_mean", "primary": primary,
                "ci_lo": lo, "tau": tau}

    eff = pl.DataFrame([row(0.4, 0.02), row(0.2, -0.01), row(0.2, 0.5, level="0"), row(0.4, -1.0, primary=False)])
    assert positive_control(eff) == {"checked": 2, "detected": 1, "taus_missed": [0.2]}
    assert positive_control(eff.filter(pl.col("level") != "self")) is None
