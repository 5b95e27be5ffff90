"""validate means runnable (issue 12): every value `interf run` would refuse, `interf validate` refuses first, located.

Each case is a spec fragment merged into a small valid spec (written to a file, beside the data files the case
names); `load_spec` + `resolve_spec` must refuse it with exit code 2, an item at the expected key whose span points
into the spec file, and the expected words. A few cases go through the CLI (exit 2, no traceback). Beside the table:
relative paths resolve against the spec's folder, the plan carries them absolute, and the bounds agree with the
checks the run applies (bootstrap size, run directory names).
"""

from __future__ import annotations

import copy
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from interf_dsl.errors import InterfError, render_error
from interf_dsl.parse import load_spec
from interf_dsl.resolve import resolve_spec

ROOT = Path(__file__).resolve().parents[3]
TARGET = {"name": "tiny", "model": "openai/target-tiny", "serve": "zoo:target-tiny"}
BASE: dict[str, Any] = {
    "experiment": {"name": "t", "preset": "paper"},
    "sources": {"gpt2": {"model": "zoo:gpt2-tiny",
                         "saes": [{"hooks": "L1,3.{attn_out,mlp_out,resid_post}", "sae": "zoo"}]}},
}
NAN, INF = float("nan"), float("inf")
SETS = {"location": {"target": [" Paris"], "high": [" a"], "medium": [" b"], "random": [" c"]}}


def feature(**kw: Any) -> dict[str, Any]:
    return {"interventions": [{"focus": "feature", **kw}]}


def prompt(**kw: Any) -> dict[str, Any]:
    return {"interventions": [{"focus": "prompt", "mode": "type_injection", **kw}]}


def neuron(**kw: Any) -> dict[str, Any]:
    return {"interventions": [{"focus": "neuron", **kw}]}


def transfer(target: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    return {"transfer": {"targets": [{**TARGET, **(target or {})}], **kw}}


def gz_export(parts: dict[str, dict[int, str]]) -> dict[str, bytes]:
    """Files of a Neuronpedia export: part -> {batch number: JSONL text}."""
    return {f"export/{part}/batch-{k}.jsonl.gz": gzip.compress(text.encode()) for part, batches in parts.items()
            for k, text in batches.items()}


GOOD_EXPORT = {part: {0: '{"index": 0}\n'} for part in ("features", "activations", "explanations")}

# (id, fragment merged into BASE, expected key path of one item, words of its message, files beside the spec)
CASES: list[tuple[str, dict[str, Any], str, str, dict[str, Any]]] = [
    # --- ranges: lower bounds the runners need
    ("bootstrap_50", {"stats": {"bootstrap": 50}}, "stats.bootstrap", "greater than or equal to 100", {}),
    ("seed_negative", {"experiment": {"seed": -5}}, "experiment.seed", "greater than or equal to 0", {}),
    ("source_seed_negative", {"sources": {"gpt2": {"seed": -1}}}, "sources.gpt2.seed", "greater than or equal", {}),
    ("context_1", {"atlas": {"context": 1}}, "atlas.context", "greater than 1", {}),
    ("max_tokens_0", {"atlas": {"max_tokens": 0}}, "atlas.max_tokens", "greater than 0", {}),
    ("top_k_0", {"metrics": {"top_k": 0}}, "metrics.top_k", "a whole number from 1", {}),
    ("target_ratio_below_atlas", {"metrics": {"target_ratio": 0.5}}, "metrics.target_ratio",
     "below atlas.top_token_ratio 0.8", {}),
    ("atlas_ratio_above_target", {"atlas": {"top_token_ratio": 0.9}}, "atlas.top_token_ratio",
     "T_f would be cut there", {}),
    ("top_k_negative", {"metrics": {"top_k": -5}}, "metrics.top_k", "got -5", {}),
    ("threshold_negative", {"map": {"thresholds": [0.4, -0.1]}}, "map.thresholds[1]", "greater than or equal to 0",
     {}),
    ("threshold_above_one", {"map": {"thresholds": [1.5]}}, "map.thresholds[0]", "less than or equal to 1", {}),
    ("heldout_fraction_1", {"prompts": {"heldout_fraction": 1.0}}, "prompts.heldout_fraction", "less than 1", {}),
    ("ci_above_one", {"stats": {"ci": 1.5}}, "stats.ci", "less than 1", {}),
    ("timeout_0", transfer({"timeout_s": 0}), "transfer.targets[0].timeout_s", "greater than 0", {}),
    ("random_draws_0", feature(random_draws=0), "interventions[0].random_draws", "greater than 0", {}),
    ("max_tokens_below_context", {"atlas": {"context": 100, "max_tokens": 50}}, "atlas.max_tokens",
     "less than one window", {}),
    # --- huge values: bounds that keep the work estimate finite
    ("seed_huge", {"experiment": {"seed": 2**40}}, "experiment.seed", "less than or equal to 4294967295", {}),
    ("targets_per_layer_1e20", {"map": {"targets_per_layer": 10**20}}, "map.targets_per_layer", "less than", {}),
    ("max_tokens_1e12", {"atlas": {"max_tokens": 10**12}}, "atlas.max_tokens", "less than", {}),
    ("batch_size_1e6", {"atlas": {"batch_size": 10**6}}, "atlas.batch_size", "less than", {}),
    ("bootstrap_1e9", {"stats": {"bootstrap": 10**9}}, "stats.bootstrap", "less than", {}),
    ("transfer_trials_1e7", transfer(trials=10**7), "transfer.trials", "less than", {}),
    ("concurrency_1e6", transfer({"concurrency": 10**6}), "transfer.targets[0].concurrency", "less than", {}),
    ("timeout_1e9", transfer({"timeout_s": 1e9}), "transfer.targets[0].timeout_s", "less than", {}),
    ("memory_1e9", {"map": {"memory_budget_mb": 10**9}}, "map.memory_budget_mb", "less than", {}),
    ("sentences_per_target_1e9", feature(sentences_per_target=10**9), "interventions[0].sentences_per_target",
     "less than", {}),
    ("prompt_trials_1e9", prompt(trials=10**9), "interventions[0].trials", "less than", {}),
    ("neurons_per_bin_1e9", neuron(neurons_per_bin=10**9), "interventions[0].neurons_per_bin", "less than", {}),
    ("work_cap_feature", {**feature(targets_per_layer=100_000, sentences_per_target=100_000),
                          "metrics": {"target_tokens": 100_000}, "prompts": {"per_token": 100_000}},
     "interventions[0]", "forward passes", {}),
    ("work_cap_transfer", transfer(sentences=100_000, trials=100_000), "transfer.trials", "prompts to each target",
     {}),
    ("grid_range_5001_values", feature(scales="{0..5000}"), "interventions[0].scales", "at most 1000", {}),
    ("grid_tiny_step", feature(scales="{0..1 step 0.000000001}"), "interventions[0].scales", "at most 1000", {}),
    ("grid_list_too_long", feature(scales=list(range(1, 1500))), "interventions[0].scales", "at most 1000", {}),
    ("hooks_1e9_layers", {"sources": {"gpt2": {"saes": [{"hooks": "L0-999999999.resid_post", "sae": "zoo"}]}}},
     "sources.gpt2.saes[0].hooks", "beyond any model", {}),
    ("selector_1e9_features", {"map": {"targets": ["gpt2/L1.resid_post[0-999999999]"]}}, "map.targets[0]",
     "more than 100000 features", {}),
    ("selector_beyond_d_sae", {"map": {"targets": ["gpt2/L1.resid_post[3, 5000]"]}}, "map.targets[0]",
     "feature 5000 does not exist", {}),
    # --- finiteness
    ("scales_nan_list", feature(scales=[1, NAN]), "interventions[0].scales", "not finite", {}),
    ("scales_inf_list", feature(scales=[INF]), "interventions[0].scales", "not finite", {}),
    ("scales_inf_expression", feature(scales="±{1, 1e999}"), "interventions[0].scales", "not finite", {}),
    ("scales_too_large", feature(scales="{1, 1e6}"), "interventions[0].scales", "too large", {}),
    ("neuron_scales_nan", neuron(scales=[NAN]), "interventions[0].scales", "not finite", {}),
    ("thresholds_nan", {"map": {"thresholds": [NAN]}}, "map.thresholds[0]", "finite", {}),
    ("thresholds_inf", {"map": {"thresholds": [0.4, INF]}}, "map.thresholds[1]", "finite", {}),
    ("top_token_ratio_nan", {"atlas": {"top_token_ratio": NAN}}, "atlas.top_token_ratio", "finite", {}),
    ("target_ratio_nan", {"metrics": {"target_ratio": NAN}}, "metrics.target_ratio", "finite", {}),
    ("epsilon_inf", {"metrics": {"epsilon": INF}}, "metrics.epsilon", "finite", {}),
    ("share_similarity_nan", {"map": {"share_similarity": NAN}}, "map.share_similarity", "finite", {}),
    ("high_thresholds_nan", prompt(high_thresholds={"gpt2": NAN}), "interventions[0].high_thresholds.gpt2",
     "finite", {}),
    ("high_thresholds_negative", prompt(high_thresholds={"gpt2": -0.5}), "interventions[0].high_thresholds.gpt2",
     "greater than or equal to 0", {}),
    ("high_threshold_nan", prompt(high_threshold=NAN), "interventions[0].high_threshold", "finite", {}),
    ("link_threshold_inf", neuron(link_threshold=INF), "interventions[0].link_threshold", "finite", {}),
    ("backoff_inf", transfer({"backoff_s": INF}), "transfer.targets[0].backoff_s", "finite", {}),
    ("position_ratio_nan", {"interventions": [{"focus": "token", "position_ratio": NAN}]},
     "interventions[0].position_ratio", "finite", {}),
    ("bins_nan_edge", {"map": {"bins": [[0, 0.5, False], [0.5, NAN, True]]}}, "map.bins", "bins", {}),
    ("bins_inf_edge", {"map": {"bins": "[0,.5) [.5,1e999]"}}, "map.bins", "not finite", {}),
    # --- model limits (zoo:gpt2-tiny: 4 layers, d_vocab 4096, n_ctx 256 here; SAEs of 1024 features)
    ("context_above_n_ctx", {"atlas": {"context": 512}}, "atlas.context", "n_ctx 256", {}),
    ("top_k_above_vocab", {"metrics": {"top_k": 5000}}, "metrics.top_k", "vocabulary of zoo:gpt2-tiny", {}),
    ("logit_lens_above_vocab", {"atlas": {"logit_lens": 5000}}, "atlas.logit_lens", "vocabulary", {}),
    ("max_top_tokens_above_vocab", {"atlas": {"max_top_tokens": 5000}}, "atlas.max_top_tokens", "vocabulary", {}),
    ("prompt_top_k_above_vocab", prompt(top_k=10_000), "interventions[0].top_k", "vocabulary", {}),
    ("neuron_top_k_above_vocab", neuron(top_k=10_000), "interventions[0].top_k", "vocabulary", {}),
    ("tokens_per_trial_above_n_ctx", prompt(tokens_per_trial=300), "interventions[0].tokens_per_trial",
     "n_ctx 256", {}),
    ("layer_out_of_range", {"sources": {"gpt2": {"saes": [{"hooks": "L7.resid_post", "sae": "zoo"}]}}},
     "sources.gpt2.saes[0].hooks", "layer 7 out of range", {}),
    ("local_model_bad_config", {"sources": {"gpt2": {"model": "./model", "saes": [{"hooks": "L0.resid_post",
                                                                                   "sae": "./saes"}]}}},
     "sources.gpt2.model", "cannot be read as JSON", {"model/config.json": "{n_layers: 2"}),
    ("local_model_zero_layers", {"sources": {"gpt2": {"model": "./model", "saes": [{"hooks": "L0.resid_post",
                                                                                     "sae": "./saes"}]}}},
     "sources.gpt2.model", "not a positive integer", {"model/config.json": '{"n_layers": 0, "d_model": 8}'}),
    # --- names that become path components
    ("name_dot", {"experiment": {"name": "."}}, "experiment.name", "the current folder", {}),
    ("name_dotdot", {"experiment": {"name": ".."}}, "experiment.name", "the parent folder", {}),
    ("name_option", {"experiment": {"name": "-rf"}}, "experiment.name", "starts with '-'", {}),
    ("name_300_chars", {"experiment": {"name": "a" * 300}}, "experiment.name", "300 characters", {}),
    ("name_inner_dotdot", {"experiment": {"name": "a..b"}}, "experiment.name", "holds '..'", {}),
    ("name_slash", {"experiment": {"name": "a/b"}}, "experiment.name", "holds '/'", {}),
    ("target_name_dotdot", transfer({"name": ".."}), "transfer.targets[0].name", "the parent folder", {}),
    ("name_hidden", {"experiment": {"name": ".hidden"}}, "experiment.name", "starts with '.'", {}),
    ("target_name_option", transfer({"name": "-x"}), "transfer.targets[0].name", "starts with '-'", {}),
    ("source_name_escape", {"sources": {"../x": {"model": "zoo:gpt2-tiny", "saes": [{"hooks": "L1.resid_post"}]}}},
     "sources.../x", "source name '../x' holds '/'", {}),
    ("source_name_option", {"sources": {"-rf": {"model": "zoo:gpt2-tiny", "saes": [{"hooks": "L1.resid_post"}]}}},
     "sources.-rf", "source name '-rf' starts with '-'", {}),
    # --- templates and repeated values
    ("prompt_format_without_sentence", prompt(format="({tokens})"), "interventions[0].format", "lacks {sentence}",
     {}),
    ("transfer_format_without_tokens", transfer(format="{sentence}"), "transfer.format", "lacks {tokens}", {}),
    ("metric_names_twice", {"metrics": {"names": ["kl", "kl"], "primary": "kl"}}, "metrics.names[1]",
     "listed twice", {}),
    ("thresholds_twice", {"map": {"thresholds": [0.4, 0.4]}}, "map.thresholds[1]", "listed twice", {}),
    ("prompt_types_twice", prompt(types=["location", "location"]), "interventions[0].types[1]", "listed twice", {}),
    ("transfer_types_twice", transfer(types=["number", "number"]), "transfer.types[1]", "listed twice", {}),
    # --- local files: exist, and read the way the run reads them
    ("token_types_missing", {"sources": {"gpt2": {"token_types": "labels.json"}}}, "sources.gpt2.token_types",
     "does not exist", {}),
    ("token_types_not_json", {"sources": {"gpt2": {"token_types": "labels.json"}}}, "sources.gpt2.token_types",
     "not JSON", {"labels.json": '{" Paris": location}'}),
    ("token_types_unknown_label", {"sources": {"gpt2": {"token_types": "labels.json"}}},
     "sources.gpt2.token_types", "unknown type 'place'", {"labels.json": '{" Paris": "place"}'}),
    ("token_types_a_list", {"sources": {"gpt2": {"token_types": "labels.json"}}}, "sources.gpt2.token_types",
     "expected a non-empty JSON object", {"labels.json": '[" Paris"]'}),
    ("token_types_a_folder", {"sources": {"gpt2": {"token_types": "labels"}}}, "sources.gpt2.token_types",
     "cannot", {"labels/x.json": "{}"}),
    ("prompts_file_missing", {"prompts": {"source": "file", "path": "sentences.json"}}, "prompts.path",
     "does not exist", {}),
    ("prompts_file_plain_shape", {"prompts": {"source": "file", "path": "sentences.json"}}, "prompts.path",
     'must map "vocab" and/or "type"', {"sentences.json": '{"location": ["The city of"]}'}),
    ("prompts_file_not_lists", {"prompts": {"source": "file", "path": "sentences.json"}}, "prompts.path",
     "must be a list of sentences", {"sentences.json": '{"vocab": {" Paris": "The capital"}}'}),
    ("sets_missing", transfer(sets="sets.json"), "transfer.sets", "does not exist", {}),
    ("sets_bad_json", transfer(sets="sets.json"), "transfer.sets", "invalid JSON", {"sets.json": '{"location": '}),
    ("sets_lacking_level", transfer(sets="sets.json", types=["location"]), "transfer.sets", "lacks the level",
     {"sets.json": json.dumps({"location": {"target": [" Paris"], "high": [" a"]}})}),
    ("sets_lacking_type", transfer(sets="sets.json", types=["location", "number"]), "transfer.sets",
     "has no token sets for transfer type(s) number", {"sets.json": json.dumps(SETS)}),
    ("prompt_sets_missing", transfer(prompt_sets="sentences.txt"), "transfer.prompt_sets", "does not exist", {}),
    ("prompt_sets_no_header", transfer(prompt_sets="sentences.txt"), "transfer.prompt_sets",
     "before any [type] header", {"sentences.txt": "The city of\n"}),
    ("prompt_sets_lacking_type", transfer(prompt_sets="sentences.json", types=["location", "number"]),
     "transfer.prompt_sets", "has no type sentences for transfer type(s) number",
     {"sentences.json": json.dumps({"location": ["The city of"]})}),
    ("corpus_bad_jsonl_line", {"atlas": {"corpus": "corpus.jsonl"}}, "atlas.corpus", "corpus.jsonl:2: not JSON",
     {"corpus.jsonl": '{"text": "one"}\n{text: two}\n'}),
    ("corpus_jsonl_without_text", {"atlas": {"corpus": "corpus.jsonl"}}, "atlas.corpus", "string 'text' field",
     {"corpus.jsonl": '{"body": "one"}\n'}),
    ("corpus_not_utf8", {"atlas": {"corpus": "corpus.txt"}}, "atlas.corpus", "not UTF-8",
     {"corpus.txt": b"caf\xe9 au lait\n"}),
    ("corpus_empty_folder", {"atlas": {"corpus": "texts"}}, "atlas.corpus", "holds no .txt or .jsonl file",
     {"texts/notes.md": "not a corpus file"}),
    ("corpus_empty_file", {"atlas": {"corpus": "corpus.txt"}}, "atlas.corpus", "is empty", {"corpus.txt": "\n\n"}),
    ("export_missing_part", {"atlas": {"explanations": {"kind": "neuronpedia", "path": "export"}}},
     "atlas.explanations.path", "missing folder 'explanations/'",
     gz_export({p: b for p, b in GOOD_EXPORT.items() if p != "explanations"})),
    ("export_batch_gap", {"atlas": {"explanations": {"kind": "neuronpedia", "path": "export"}}},
     "atlas.explanations.path", "missing batches [1]",
     gz_export({**GOOD_EXPORT, "features": {0: '{"index": 0}\n', 2: '{"index": 1}\n'}})),
    ("export_record_without_index", {"atlas": {"explanations": {"kind": "neuronpedia", "path": "export"}}},
     "atlas.explanations.path", "no integer 'index'", gz_export({**GOOD_EXPORT, "features": {0: '{"id": 0}\n'}})),
]
REQUIRE_DATA_CASES = [
    ("corpus_missing", {"atlas": {"corpus": "data/corpus.jsonl"}}, "atlas.corpus", "does not exist", {}),
    ("export_missing", {"atlas": {"explanations": {"kind": "neuronpedia", "path": "data/export"}}},
     "atlas.explanations.path", "does not exist", {}),
]


def merged(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = merged(base[k], v) if k in base else v
        return out
    return over


def write_spec(folder: Path, fragment: dict[str, Any], files: dict[str, Any]) -> Path:
    """The spec BASE + fragment in `folder/spec.yaml`, and the case's files beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    data = merged(copy.deepcopy(BASE), fragment)
    if "-rf" in data["sources"] or "../x" in data["sources"]:
        del data["sources"]["gpt2"]
    spec = folder / "spec.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return spec


@pytest.fixture
def zoo(monkeypatch: pytest.MonkeyPatch, fake_zoo: dict) -> dict:
    """The fake zoo card with the zoo's context length (n_ctx 256)."""
    from interf_dsl.zoo import catalog

    card = copy.deepcopy(fake_zoo)
    for info in card["models"].values():
        info["n_ctx"] = 256
    monkeypatch.setattr(catalog, "zoo_card", lambda: card)
    return card


def refused(spec: Path, **kw: Any) -> InterfError:
    with pytest.raises(InterfError) as info:
        resolve_spec(load_spec(spec), **kw)
    return info.value


def assert_located(err: InterfError, spec: Path, key: str, words: str) -> None:
    assert err.exit_code == 2
    text = render_error(err)
    assert "Traceback" not in text
    hits = [it for it in err.items if it.key_path == key and words in it.message]
    assert hits, f"no item at {key!r} saying {words!r}:\n{text}"
    span = hits[0].span
    assert span is not None and Path(span.path) == spec and span.line >= 1 and span.col >= 1, text


def test_the_table_is_large() -> None:
    assert len(CASES) + len(REQUIRE_DATA_CASES) >= 60
    assert len({c[0] for c in CASES + REQUIRE_DATA_CASES}) == len(CASES) + len(REQUIRE_DATA_CASES)


def test_the_base_spec_validates(tmp_path: Path, zoo: dict) -> None:
    resolve_spec(load_spec(write_spec(tmp_path / "study", {}, {})))


@pytest.mark.parametrize(("case", "fragment", "key", "words", "files"), CASES, ids=[c[0] for c in CASES])
def test_validate_refuses_what_run_would(case: str, fragment: dict, key: str, words: str, files: dict,
                                         tmp_path: Path, zoo: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = write_spec(tmp_path / "study", fragment, files)
    start = time.perf_counter()
    err = refused(spec)
    assert time.perf_counter() - start < 2.0
    assert_located(err, spec, key, words)


@pytest.mark.parametrize(("case", "fragment", "key", "words", "files"), REQUIRE_DATA_CASES,
                         ids=[c[0] for c in REQUIRE_DATA_CASES])
def test_missing_datasets_are_refused_before_a_run(case: str, fragment: dict, key: str, words: str, files: dict,
                                                   tmp_path: Path, zoo: dict) -> None:
    """A missing corpus or export is refused with `require_data` (before a run); a plain validate accepts it, as it
    accepts hub models whose weights are not here (the shipped paper specs name data downloaded separately)."""
    spec = write_spec(tmp_path / "study", fragment, files)
    resolve_spec(load_spec(spec))
    assert_located(refused(spec, require_data=True), spec, key, words)


def test_relative_paths_resolve_against_the_spec_folder(tmp_path: Path, zoo: dict,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from interf_dsl.plan import compile_plan

    study, elsewhere = tmp_path / "study", tmp_path / "elsewhere"
    files = {"data/corpus.jsonl": '{"text": "one two three"}\n', "labels.json": '{" Paris": "location"}',
             "sets.json": json.dumps(SETS), "sentences.txt": "[location]\nThe city of\n"}
    spec = write_spec(study, {"atlas": {"corpus": "data/corpus.jsonl"},
                              "sources": {"gpt2": {"token_types": "./labels.json"}},
                              **transfer(sets="sets.json", prompt_sets="sub/../sentences.txt", types=["location"])},
                      files)
    write_spec(elsewhere, {}, {"labels.json": "not json"})  # a same-named file under the working directory
    monkeypatch.chdir(elsewhere)
    resolved = resolve_spec(load_spec(os.path.relpath(spec)))
    assert resolved.atlas.corpus == str(study / "data/corpus.jsonl")
    assert resolved.sources["gpt2"].token_types == str(study / "labels.json")
    assert resolved.transfer is not None
    assert (resolved.transfer.sets, resolved.transfer.prompt_sets) == (str(study / "sets.json"),
                                                                       str(study / "sentences.txt"))
    plan = compile_plan(resolved)
    atlas = next(s for s in plan.steps if s.kind == "atlas")
    assert atlas.params["atlas"]["corpus"] == str(study / "data/corpus.jsonl")
    assert not atlas.params["corpus_fingerprint"].startswith("missing:")  # the plan read the spec's file
    select = next(s for s in plan.steps if s.kind == "select")
    assert select.params["token_sets"]["labels"] == {"gpt2": str(study / "labels.json")}


def test_a_path_under_the_working_directory_only_is_not_found(tmp_path: Path, zoo: dict,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    spec = write_spec(tmp_path / "study", {"sources": {"gpt2": {"token_types": "labels.json"}}}, {})
    (tmp_path / "labels.json").write_text('{" Paris": "location"}', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    err = refused(spec)
    assert_located(err, spec, "sources.gpt2.token_types", "study/labels.json does not exist")
    assert "relative path starts at the spec's folder" in (err.items[0].hint or "")


def test_absolute_and_home_paths_are_kept(tmp_path: Path, zoo: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    files = {"../home/corpus.txt": "some text\n"}
    spec = write_spec(tmp_path / "study", {"atlas": {"corpus": "~/corpus.txt"},
                                           "sources": {"gpt2": {"token_types": str(tmp_path / "labels.json")}}},
                      files)
    (tmp_path / "labels.json").write_text('{" 7": "number"}', encoding="utf-8")
    resolved = resolve_spec(load_spec(spec), require_data=True)
    assert resolved.atlas.corpus == str(tmp_path / "home/corpus.txt")
    assert resolved.sources["gpt2"].token_types == str(tmp_path / "labels.json")


def test_local_model_and_sae_directories_resolve_against_the_spec_folder(tmp_path: Path, zoo: dict) -> None:
    files = {"model/config.json": json.dumps({"n_layers": 2, "d_model": 8, "d_vocab": 50, "n_ctx": 32})}
    spec = write_spec(tmp_path / "study", {"atlas": {"context": 32},
                                           "sources": {"gpt2": {"model": "./model", "saes": [
                                               {"hooks": "L1.resid_post", "sae": "saes/{layer}"}]}}}, files)
    resolved = resolve_spec(load_spec(spec))
    src = resolved.sources["gpt2"]
    assert src.model == str(tmp_path / "study/model") and src.arch is not None and src.arch.n_ctx == 32
    assert src.saes[0].ref == str(tmp_path / "study/saes/1")
    assert_located(refused(write_spec(tmp_path / "study", {"atlas": {"context": 64}, "sources": {"gpt2": {
        "model": "./model", "saes": [{"hooks": "L1.resid_post", "sae": "saes/{layer}"}]}}}, files)),
        tmp_path / "study/spec.yaml", "atlas.context", "n_ctx 32")


def test_a_spec_in_code_resolves_against_the_working_directory(tmp_path: Path, zoo: dict,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from interf_dsl.parse.spec import Spec

    monkeypatch.chdir(tmp_path)
    spec = Spec.model_validate(merged(copy.deepcopy(BASE), {"atlas": {"corpus": "corpus.txt"}}))
    assert resolve_spec(spec).atlas.corpus == str(tmp_path / "corpus.txt")


def test_bootstrap_bound_is_the_one_the_estimators_apply() -> None:
    from interf_dsl.errors import SpecError
    from interf_dsl.lang.limits import MIN_BOOTSTRAP
    from interf_dsl.stats._checks import check_n_boot

    assert check_n_boot(MIN_BOOTSTRAP) == MIN_BOOTSTRAP
    with pytest.raises(SpecError):
        check_n_boot(MIN_BOOTSTRAP - 1)


@pytest.mark.parametrize("name", [".", "..", "-rf", "a..b", "a/b", "a b", "é", "x" * 101, "", "ok", "a.b-c_1",
                                  "9lives", "x" * 100])
def test_name_rule_agrees_with_the_run_directory(name: str, tmp_path: Path) -> None:
    """A name the spec accepts is one the run directory accepts (the converse: `path_name_problem` is no looser)."""
    from interf_dsl.errors import ExecuteError
    from interf_dsl.execute.selection import run_directory
    from interf_dsl.lang.limits import path_name_problem

    problem = path_name_problem(name)
    try:
        run_directory(tmp_path, name, "run")
        accepted = True
    except (ExecuteError, OSError):
        accepted = False
    if problem is None:
        assert accepted, name
    assert (problem is None) == (name in ("ok", "a.b-c_1", "9lives", "x" * 100))


def test_neuronpedia_export_layout_check_accepts_what_the_reader_reads(tmp_path: Path) -> None:
    from interf_dsl.atlas.neuronpedia import check_export, read_export

    for name, content in gz_export({"features": {0: '{"index": 0, "neuron_alignment_indices": [1]}\n'},
                                    "activations": {0: '{"index": 0, "activations": []}\n'},
                                    "explanations": {0: '{"index": 0, "description": "cities"}\n',
                                                     1: '{"index": 1, "description": "numbers"}\n'}}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    check_export(tmp_path / "export")
    assert read_export(tmp_path / "export")["explanations"]["explanation"].to_list() == ["cities", "numbers"]


def test_corpus_check_reads_only_the_head(tmp_path: Path) -> None:
    """A large corpus is checked on its first CHECK_BYTES (whole lines): a bad line past them is left to the run."""
    from interf_dsl.atlas.corpus import check_corpus

    path = tmp_path / "big.jsonl"
    path.write_text('{"text": "a b c"}\n' * 1000 + "{broken\n", encoding="utf-8")
    check_corpus(str(path), max_bytes=4096)
    with pytest.raises(InterfError, match="big.jsonl:1001: not JSON"):
        check_corpus(str(path))


def test_hostile_expansions_are_refused_fast(tmp_path: Path, zoo: dict) -> None:
    """Values that would expand to billions of items are refused before expanding (measured: well under 2 s)."""
    worst = 0.0
    for fragment in (feature(scales="{0..1000000000000}"), feature(scales="{-1000..1000 step 0.0000000001}"),
                     {"sources": {"gpt2": {"saes": [{"hooks": "L0-999.{resid_pre,attn_out,mlp_out,resid_post}"}]}}},
                     {"map": {"targets": ["gpt2/L1.resid_post[0-2147483647]"]}},
                     {**feature(targets_per_layer=100_000, sentences_per_target=100_000, scales=list(range(1, 1000)),
                                random_draws=100_000), "map": {"thresholds": [i / 1000 for i in range(1, 1001)]}}):
        spec = write_spec(tmp_path / "study", fragment, {})
        start = time.perf_counter()
        refused(spec)
        worst = max(worst, time.perf_counter() - start)
    assert worst < 2.0


def test_cli_validate_exits_2_located_without_traceback(tmp_path: Path, zoo: dict) -> None:
    """Through the CLI in a fresh interpreter (the real zoo card): several refused specs in one call, each located."""
    picked = ["bootstrap_50", "seed_negative", "scales_nan_list", "name_dotdot", "token_types_missing",
              "thresholds_nan", "targets_per_layer_1e20"]
    cases = {c[0]: c for c in CASES}
    specs = [write_spec(tmp_path / name, cases[name][1], cases[name][4]) for name in picked]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "interf_dsl", "validate", *map(str, specs)], capture_output=True,
                          text=True, env=env, cwd=tmp_path, timeout=120)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    for name, spec in zip(picked, specs, strict=True):
        key = cases[name][2]
        assert f"(at {key})" in proc.stderr, (name, proc.stderr)
        assert any(line.startswith(f"{spec}:") for line in proc.stderr.splitlines()), (name, proc.stderr)
    assert elapsed < 30  # a fresh interpreter on a loaded 2-core machine; the checks themselves take milliseconds


def test_a_hub_source_of_token_sets_needs_token_type_labels(tmp_path: Path) -> None:
    """Table-1 token sets need each source's token-type labels; the zoo ships its own, a hub model needs
    `token_types` (else the run would stop at the first step needing the sets). Validate says so, located."""
    text = (ROOT / "specs/paper/table1.yaml").read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if "token_types" not in ln or "pythia" not in ln]
    assert len(lines) == len(text.splitlines()) - 1  # the spec names pythia's labels on one line
    spec = tmp_path / "paper" / "table1.yaml"
    spec.parent.mkdir()
    spec.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert_located(refused(spec), spec, "sources.pythia.model", "no token-type labels")


def test_the_ones_probe_on_a_hub_model_with_centered_writing_weights_is_refused(tmp_path: Path) -> None:
    """transformer_lens loads a hub model with center_writing_weights (its SAEs record nothing else): every attn_out
    and mlp_out vector sums to 0, so the all-ones probe has no gradient; the run would refuse, validate refuses."""
    text = (ROOT / "specs/paper/token.yaml").read_text(encoding="utf-8")
    assert "    probe: decoder\n" in text
    spec = tmp_path / "paper" / "token.yaml"
    spec.parent.mkdir()
    spec.write_text(text.replace("    probe: decoder\n", "    probe: ones\n"), encoding="utf-8")
    assert_located(refused(spec), spec, "interventions[0].probe", "center_writing_weights")


def test_a_hub_models_labels_are_data_required_before_a_run_only() -> None:
    """The seed specs name token-type labels of hub vocabularies under their data folder: validate accepts them
    absent (like the corpus), the check before a run refuses them, located."""
    spec = ROOT / "specs/paper/table1.yaml"
    resolve_spec(load_spec(spec))
    assert_located(refused(spec, require_data=True), spec, "sources.pythia.token_types", "does not exist")
