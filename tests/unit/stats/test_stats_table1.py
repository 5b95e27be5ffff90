"""Recompute the significance stars of Table 1/5 (docs/method.md §7.5) from the published rates, n = 10,000 per arm.

Each cell (Original, High, Low) is compared with Random of its row by Welch's t-test on 0/1 vectors with the
published rates (the authors' test) and by the two-proportion z-test; both must give the paper's stars. Cells where
the paper's stars contradict its own rates are listed in KNOWN_INCONSISTENT and run as strict xfails, so the list
stays exact: a cell that starts matching, or a consistent cell that stops matching, fails the suite.
"""

import numpy as np
import pytest

from interf_dsl.stats.paper import stars, welch_t
from interf_dsl.stats.proportions import cohens_h, two_proportion_z

N = 10_000

# type | model | Original | High | Low | Random | Cohen's h High vs Random (docs/method.md §7.5, computed there)
TABLE = """
Locations | Pythia-70M | 65.08*** | 36.93** | 32.53 | 35.06 | +0.039
Locations | GPT-2-Small | 44.68*** | 18.42*** | 19.08*** | 16.42 | +0.053
Locations | Llama-3.1-8B-Instruct | 33.84*** | 20.78*** | 19.63* | 18.24 | +0.064
Locations | Gemma-2-9B-Instruct | 10.16 | 12.71*** | 11.36 | 10.66 | +0.064
Locations | Llama-3.1-70B-Instruct | 37.23*** | 28.21*** | 23.09** | 24.48 | +0.085
Number | Pythia-70M | 65.32*** | 35.15 | 36.71*** | 34.30 | +0.018
Number | GPT-2-Small | 55.87*** | 30.33 | 31.23 | 34.71 | -0.094
Number | Llama-3.1-8B-Instruct | 55.97*** | 31.87* | 32.90*** | 30.57 | +0.028
Number | Gemma-2-9B-Instruct | 48.42*** | 29.93*** | 30.64*** | 27.16 | +0.061
Number | Llama-3.1-70B-Instruct | 25.57*** | 8.85*** | 6.67 | 7.09 | +0.065
Science | Pythia-70M | 61.66*** | 23.13 | 22.78 | 28.58 | -0.125
Science | GPT-2-Small | 75.70*** | 25.93*** | 26.07*** | 21.71 | +0.099
Science | Llama-3.1-8B-Instruct | 49.67*** | 20.08*** | 18.95 | 17.94 | +0.055
Science | Gemma-2-9B-Instruct | 46.84*** | 20.40 | 19.25 | 20.15 | +0.006
Science | Llama-3.1-70B-Instruct | 67.26*** | 48.22*** | 43.57 | 42.24 | +0.120
Person | Pythia-70M | 60.28*** | 29.02 | 28.58 | 32.31 | -0.071
Person | GPT-2-Small | 54.29*** | 27.47*** | 26.97** | 25.16 | +0.052
Person | Llama-3.1-8B-Instruct | 38.85*** | 19.20*** | 19.08*** | 16.86 | +0.061
Person | Gemma-2-9B-Instruct | 43.27*** | 25.36 | 26.10 | 25.04 | +0.007
Person | Llama-3.1-70B-Instruct | 46.27*** | 21.90*** | 21.13** | 19.61 | +0.056
Animal | Pythia-70M | 96.96*** | 28.49 | 30.75 | 29.83 | -0.029
Animal | GPT-2-Small | 86.11*** | 21.64 | 18.87 | 25.03 | -0.080
Animal | Llama-3.1-8B-Instruct | 67.07*** | 42.76* | 40.56 | 40.89 | +0.038
Animal | Gemma-2-9B-Instruct | 26.09*** | 41.02*** | 38.50 | 38.47 | +0.052
Animal | Llama-3.1-70B-Instruct | 49.32*** | 32.80* | 30.79 | 31.43 | +0.029
Emotion | Pythia-70M | 61.74*** | 26.13*** | 21.11 | 20.68 | +0.129
Emotion | GPT-2-Small | 58.84*** | 36.91*** | 35.22* | 33.85 | +0.064
Emotion | Llama-3.1-8B-Instruct | 60.16*** | 27.94 | 27.45 | 29.37 | -0.032
Emotion | Gemma-2-9B-Instruct | 56.55*** | 13.85 | 13.63 | 13.50 | +0.010
Emotion | Llama-3.1-70B-Instruct | 51.51*** | 44.90*** | 40.63 | 40.40 | +0.091
Color | Pythia-70M | 97.31*** | 17.89 | 21.49 | 21.80 | -0.098
Color | GPT-2-Small | 85.47*** | 35.57 | 33.13 | 36.93 | -0.028
Color | Llama-3.1-8B-Instruct | 76.76*** | 22.01 | 20.67 | 20.97 | +0.025
Color | Gemma-2-9B-Instruct | 22.57*** | 13.58 | 16.10 | 15.67 | -0.059
Color | Llama-3.1-70B-Instruct | 76.85*** | 19.08 | 17.88 | 18.44 | +0.016
Time | Pythia-70M | 69.92*** | 45.33*** | 45.54*** | 41.33 | +0.081
Time | GPT-2-Small | 58.48*** | 31.55*** | 27.72*** | 21.42 | +0.231
Time | Llama-3.1-8B-Instruct | 51.41*** | 25.58 | 26.29 | 25.95 | -0.008
Time | Gemma-2-9B-Instruct | 55.15*** | 25.10* | 25.94*** | 23.62 | +0.034
Time | Llama-3.1-70B-Instruct | 78.28*** | 36.87 | 36.68 | 37.71 | -0.017
"""

_NEG = "a significant NEGATIVE difference vs Random is left unstarred in the paper (stars only on gains)"
KNOWN_INCONSISTENT = {
    ("Locations", "Pythia-70M", "Low"): _NEG + ": 32.53 vs 35.06, p ≈ 2e-4",
    ("Number", "GPT-2-Small", "High"): _NEG + ": 30.33 vs 34.71, p ≈ 4e-11 (docs/method.md §7.5)",
    ("Number", "GPT-2-Small", "Low"): _NEG + ": 31.23 vs 34.71, p ≈ 2e-7",
    ("Science", "Pythia-70M", "High"): _NEG + ": 23.13 vs 28.58, p ≈ 1e-18 (docs/method.md §7.5)",
    ("Science", "Pythia-70M", "Low"): _NEG + ": 22.78 vs 28.58, p ≈ 6e-21",
    ("Person", "Pythia-70M", "High"): _NEG + ": 29.02 vs 32.31, p ≈ 5e-7",
    ("Person", "Pythia-70M", "Low"): _NEG + ": 28.58 vs 32.31, p ≈ 1e-8",
    ("Animal", "Pythia-70M", "High"): _NEG + ": 28.49 vs 29.83, p ≈ 0.037",
    ("Animal", "GPT-2-Small", "High"): _NEG + ": 21.64 vs 25.03, p ≈ 1e-8",
    ("Animal", "GPT-2-Small", "Low"): _NEG + ": 18.87 vs 25.03, p ≈ 6e-26",
    ("Emotion", "Llama-3.1-8B-Instruct", "High"): _NEG + ": 27.94 vs 29.37, p ≈ 0.025",
    ("Emotion", "Llama-3.1-8B-Instruct", "Low"): _NEG + ": 27.45 vs 29.37, p ≈ 0.0026",
    ("Color", "Pythia-70M", "High"): _NEG + ": 17.89 vs 21.80, p ≈ 4e-12",
    ("Color", "GPT-2-Small", "High"): _NEG + ": 35.57 vs 36.93, p ≈ 0.046",
    ("Color", "GPT-2-Small", "Low"): _NEG + ": 33.13 vs 36.93, p ≈ 2e-8",
    ("Color", "Gemma-2-9B-Instruct", "High"): _NEG + ": 13.58 vs 15.67, p ≈ 3e-5",
    ("Locations", "Llama-3.1-70B-Instruct", "Low"): "paper '**' but 23.09 vs 24.48 gives p ≈ 0.021 ('*'), and the "
                                                    "difference is negative",
    ("Animal", "Llama-3.1-8B-Instruct", "High"): "paper '*' but 42.76 vs 40.89 gives p ≈ 0.0074 ('**')",
}


def _rows():
    for line in TABLE.strip().splitlines():
        kind, model, orig, high, low, rand, h = (s.strip() for s in line.split("|"))
        yield kind, model, {"Original": orig, "High": high, "Low": low}, float(rand), float(h)


def _cells():
    for kind, model, cells, rand, _ in _rows():
        for cond, cell in cells.items():
            rate = cell.rstrip("*")
            marks = (pytest.mark.xfail(strict=True, reason=KNOWN_INCONSISTENT[(kind, model, cond)]),) \
                if (kind, model, cond) in KNOWN_INCONSISTENT else ()
            yield pytest.param(float(rate), cell[len(rate):], rand, id=f"{kind}-{model}-{cond}", marks=marks)


def _successes(pct: float) -> int:
    return round(pct * N / 100)


def _zeros_ones(pct: float) -> np.ndarray:
    k = _successes(pct)
    return np.concatenate([np.ones(k), np.zeros(N - k)])


def test_table_is_complete_and_inconsistencies_exist():
    cells = list(_cells())
    assert len(cells) == 8 * 5 * 3
    names = {c.id for c in cells}
    assert all(f"{k}-{m}-{c}" in names for k, m, c in KNOWN_INCONSISTENT)


@pytest.mark.parametrize("rate, paper_stars, random_rate", list(_cells()))
def test_table1_stars_reproduce(rate, paper_stars, random_rate):
    _, p_welch = welch_t(_zeros_ones(rate), _zeros_ones(random_rate))
    _, p_z = two_proportion_z(_successes(rate), N, _successes(random_rate), N)
    assert stars(p_welch) == paper_stars
    assert stars(p_z) == paper_stars


def test_method_sanity_checks():
    # docs/method.md §7.5: Pythia Locations High 36.93 vs 35.06 → z ≈ 2.8, p ≈ 0.005, '**'
    z, p = two_proportion_z(3693, N, 3506, N)
    assert z == pytest.approx(2.75, abs=0.01) and p == pytest.approx(0.0059, abs=3e-4) and stars(p) == "**"
    assert stars(welch_t(_zeros_ones(36.93), _zeros_ones(35.06))[1]) == "**"
    # Llama-8B Locations Low 19.63 vs 18.24 → z ≈ 2.5, p ≈ 0.012, '*'
    z, p = two_proportion_z(1963, N, 1824, N)
    assert z == pytest.approx(2.5, abs=0.03) and p == pytest.approx(0.012, abs=1e-3) and stars(p) == "*"
    assert stars(welch_t(_zeros_ones(19.63), _zeros_ones(18.24))[1]) == "*"


@pytest.mark.parametrize("kind, model, high, rand, h", [
    pytest.param(k, m, float(c["High"].rstrip("*")), r, h, id=f"{k}-{m}") for k, m, c, r, h in _rows()])
def test_cohens_h_matches_method_table(kind, model, high, rand, h):
    assert cohens_h(high / 100, rand / 100) == pytest.approx(h, abs=0.0015)
