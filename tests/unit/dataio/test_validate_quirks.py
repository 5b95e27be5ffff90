"""Each real-world quirk of tests/data/import/, named as it is in a spec, is refused by `interf validate` (exit 2),
located at the spec key with the place inside the data file, and with a hint naming the `interf import` that
converts it; what the study asks of its files (labels, sentences and sets for every tested type, one export folder
per SAE) is checked too. The converted files validate (tests/integration/test_import_data.py runs them)."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from interf_dsl.errors import InterfError, render_error
from interf_dsl.parse import load_spec
from interf_dsl.resolve import resolve_spec

DATA = Path(__file__).resolve().parents[2] / "data" / "import"
TARGET = {"name": "tiny", "model": "openai/target-tiny", "serve": "zoo:target-tiny"}
SETS = {"location": {"target": [" city"], "high": [" a"], "medium": [" b"], "random": [" c"]},
        "number": {"target": [" one"], "high": [" a"], "medium": [" b"], "random": [" c"]}}
LABELS = {" city": "location", " one": "number"}


def spec_with(tmp: Path, *, gpt2: dict | None = None, hooks: str = "L1.resid_post", **sections: Any) -> Path:
    """A spec in `tmp` with one zoo source and a type-injection block testing location and number."""
    data = {"experiment": {"name": "t", "preset": "paper"},
            "sources": {"gpt2": {"model": "zoo:gpt2-tiny", "saes": [{"hooks": hooks, "sae": "zoo"}], **(gpt2 or {})}},
            "interventions": [{"focus": "prompt", "mode": "type_injection", "types": ["location", "number"]}],
            **sections}
    spec = tmp / "spec.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return spec


def put(tmp: Path, name: str, source: str | None = None, text: str | None = None) -> str:
    """Copy a file or folder of tests/data/import (or write `text`) into the study folder as `name`."""
    dest = tmp / name
    if text is not None:
        dest.write_text(text, encoding="utf-8")
    elif (DATA / source).is_dir():
        shutil.copytree(DATA / source, dest)
    else:
        shutil.copyfile(DATA / source, dest)
    return name


def refused(spec: Path, key: str, words: str, *, inside: str | None = None) -> str:
    with pytest.raises(InterfError) as info:
        resolve_spec(load_spec(spec))
    err = info.value
    text = render_error(err)
    assert err.exit_code == 2 and "Traceback" not in text
    hits = [it for it in err.items if it.key_path == key and words in it.message]
    assert hits, f"no item at {key} saying {words!r}:\n{text}"
    assert hits[0].span is not None and Path(hits[0].span.path) == spec
    if inside is not None:
        assert inside in hits[0].message, text  # file:line:col inside the data file
    return text


def test_labels_keyed_by_id_with_part_of_speech_tags(tmp_path, fake_zoo) -> None:
    spec = spec_with(tmp_path, gpt2={"token_types": put(tmp_path, "labels.json", "labels_by_id.json")})
    refused(spec, "sources.gpt2.token_types", "key '1245' appears twice", inside="labels.json:9:2")
    text = (DATA / "labels_by_id.json").read_text(encoding="utf-8").replace(',\n "1245": "LOC"\n}', "\n}")
    put(tmp_path, "labels.json", text=text)  # the repeat gone: the stray tags are next
    text = refused(spec, "sources.gpt2.token_types", "unknown type 'LOC'", inside="labels.json:2:2")
    assert "'NOUN' x4" in text and "--map LABEL=TYPE" in text and "--other unknown" in text


def test_labels_keyed_by_id_with_known_types(tmp_path, fake_zoo) -> None:
    spec = spec_with(tmp_path, gpt2={"token_types": put(tmp_path, "labels.json", text='{"1245": "location",\n'
                                                                                  ' "499": "number"}')})
    text = refused(spec, "sources.gpt2.token_types", "looks keyed by token ids", inside="labels.json:1:2")
    assert "interf import token-types" in text and "--model" in text


def test_labels_in_one_file_per_type(tmp_path, fake_zoo) -> None:
    spec = spec_with(tmp_path, gpt2={"token_types": put(tmp_path, "labels", "labels_folder")})
    assert "interf import" in refused(spec, "sources.gpt2.token_types", "it is a folder")


def test_labels_with_a_repeated_token(tmp_path, fake_zoo) -> None:
    spec = spec_with(tmp_path, gpt2={"token_types": put(tmp_path, "labels.json", text='{" city": "location",\n'
                                                                                  ' " one": "number",\n'
                                                                                  ' " city": "person"}')})
    refused(spec, "sources.gpt2.token_types", "appears twice", inside="labels.json:3:2")


def test_labels_that_leave_a_tested_type_without_tokens(tmp_path, fake_zoo) -> None:
    spec = spec_with(tmp_path, gpt2={"token_types": put(tmp_path, "labels.json", text='{" city": "location"}')})
    refused(spec, "sources.gpt2.token_types", "labels no token with type(s) number (asked by interventions[0].types)")


def test_sentences_in_the_plain_shape(tmp_path, fake_zoo) -> None:
    spec = spec_with(tmp_path, prompts={"source": "file", "path": put(tmp_path, "s.json", "sentences_plain.json")})
    text = refused(spec, "prompts.path", 'must map "vocab" and/or "type"', inside="s.json:2:2")
    assert "interf import sentences" in text


def test_sentences_of_an_unknown_type(tmp_path, fake_zoo) -> None:
    body = json.dumps({"type": {"location": ["The city of"], "number": ["Count to"], "place": ["Near the"]}})
    spec = spec_with(tmp_path, prompts={"source": "file", "path": put(tmp_path, "s.json", text=body)})
    refused(spec, "prompts.path", "unknown token type 'place'", inside="s.json:1:")


def test_sentences_missing_a_tested_type(tmp_path, fake_zoo) -> None:
    spec = spec_with(tmp_path, prompts={"source": "file", "path": put(tmp_path, "s.json",
                                                                      text='{"type": {"location": ["The city"]}}')})
    refused(spec, "prompts.path", "no type sentences for number (asked by interventions[0].types)")


def test_sets_with_alias_levels(tmp_path, fake_zoo) -> None:
    spec = spec_with(tmp_path, transfer={"types": ["location"], "sets": put(tmp_path, "sets.json",
                                                                            "sets_aliases.json"),
                                         "targets": [TARGET]})
    text = refused(spec, "transfer.sets", "level 'target_tokens' in type 'location' is interf's 'target'",
                   inside="sets.json:4:4")
    assert "interf import sets" in text


def test_sets_of_one_type_without_the_type(tmp_path, fake_zoo) -> None:
    spec = spec_with(tmp_path, transfer={"types": ["number"], "sets": put(tmp_path, "sets.json", "sets_one_type.json"),
                                         "targets": [TARGET]})
    assert "--type" in refused(spec, "transfer.sets", "holds the levels of one type", inside="sets.json:1:2")


def test_sets_in_one_file_per_type(tmp_path, fake_zoo) -> None:
    spec = spec_with(tmp_path, transfer={"types": ["number"], "sets": put(tmp_path, "sets", "sets_folder"),
                                         "targets": [TARGET]})
    refused(spec, "transfer.sets", "it is a folder")


def test_sets_with_an_unknown_level_or_type(tmp_path, fake_zoo) -> None:
    bad = {"location": {**SETS["location"], "hihg": [" x"]}}
    spec = spec_with(tmp_path, transfer={"types": ["location"], "sets": put(tmp_path, "sets.json",
                                                                            text=json.dumps(bad)),
                                         "targets": [TARGET]})
    assert "did you mean 'high'?" in refused(spec, "transfer.sets", "unknown level 'hihg'")
    spec = spec_with(tmp_path, transfer={"types": ["location"], "sets": put(tmp_path, "sets2.json",
                                                                            text=json.dumps({"place": SETS["location"]})),
                                         "targets": [TARGET]})
    refused(spec, "transfer.sets", "unknown token type 'place'")


def test_prompt_sets_with_an_unknown_header(tmp_path, fake_zoo) -> None:
    spec = spec_with(tmp_path, transfer={"types": ["location"], "targets": [TARGET],
                                         "prompt_sets": put(tmp_path, "p.txt", text="[location]\nThe city\n[plcae]\nx\n")})
    refused(spec, "transfer.prompt_sets", "unknown token type [plcae]", inside="p.txt:3:2")


def test_converted_files_validate(tmp_path, fake_zoo) -> None:
    """The shapes `interf import` writes are what validate accepts (with repeats in the prompt set: counted)."""
    spec = spec_with(tmp_path, gpt2={"token_types": put(tmp_path, "labels.json", text=json.dumps(LABELS))},
                     prompts={"source": "file", "path": put(tmp_path, "s.json", text=json.dumps(
                         {"type": {"location": ["The city of"], "number": ["Count to"]}}))},
                     transfer={"types": ["location", "number"], "targets": [TARGET],
                               "sets": put(tmp_path, "sets.json", text=json.dumps({"types": SETS})),
                               "prompt_sets": put(tmp_path, "p.txt", "prompt_sets.txt")})
    resolve_spec(load_spec(spec))


def _export(root: Path, *saes: str) -> None:
    for sae in saes:
        for part in ("features", "activations", "explanations"):
            (root / sae / part).mkdir(parents=True, exist_ok=True)
            with gzip.open(root / sae / part / "batch-0.jsonl.gz", "wt", encoding="utf-8") as fh:
                fh.write('{"index": 0, "description": "cities"}\n')


def test_neuronpedia_export_needs_a_folder_per_sae(tmp_path, fake_zoo) -> None:
    hooks = "L1.{mlp_out,resid_post}"
    expl = {"explanations": {"kind": "neuronpedia", "path": "export"}}
    _export(tmp_path / "export", ".")  # flat: one SAE's data at the top
    spec = spec_with(tmp_path, hooks=hooks, atlas=expl)
    assert "interf import neuronpedia" in refused(spec, "atlas.explanations.path", "holds one SAE's data, but the "
                                                  "spec has 2 SAEs (gpt2/L1.mlp_out, gpt2/L1.resid_post)")
    shutil.rmtree(tmp_path / "export")
    _export(tmp_path / "export", "gpt2/L1.resid_post")
    refused(spec, "atlas.explanations.path", "has no folder for SAE(s) gpt2/L1.mlp_out")
    _export(tmp_path / "export", "gpt2/L1.mlp_out")
    resolve_spec(load_spec(spec))
    flat = spec_with(tmp_path / "export" / "gpt2", atlas={"explanations": {"kind": "neuronpedia",
                                                                             "path": "L1.mlp_out"}})
    resolve_spec(load_spec(flat))  # one SAE: a flat export serves it
