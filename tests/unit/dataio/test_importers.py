"""`interf import` converters without a model: each source shape, each conversion said in the result, each
ambiguity refused located; the written file is what the readers accept. (With `--model`: the integration test.)"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from interf_dsl.dataio import import_neuronpedia, import_sentences, import_sets, import_token_types
from interf_dsl.errors import SpecError, render_error
from interf_dsl.interference.labels import read_labels
from interf_dsl.interference.sets_file import read_token_sets
from interf_dsl.interventions.sentences import read_file
from interf_dsl.transfer.sets import read_prompt_sets

DATA = Path(__file__).resolve().parents[2] / "data" / "import"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def refused(call, words: str, where: str | None = None) -> str:
    with pytest.raises(SpecError) as info:
        call()
    text = render_error(info.value)
    assert words in text, text
    if where is not None:
        span = info.value.items[0].span
        assert span is not None and f"{Path(span.path).name}:{span.line}" == where, text
    return text


# ---------------------------------------------------------------- token types

def test_a_folder_per_type_with_stray_and_alias_labels(tmp_path) -> None:
    out = tmp_path / "labels.json"
    text = refused(lambda: import_token_types(DATA / "labels_folder", out),
                   "labels that are no token types (2): 'misc' x4, 'place' x4")
    assert "--map LABEL=TYPE" in text and not out.exists()
    refused(lambda: import_token_types(DATA / "labels_folder", out, aliases={"place": "location"}, other="unknown"),
            "token ' home' is labelled both 'location' and 'unknown'", where="misc.txt:1")
    res = import_token_types(DATA / "labels_folder", out, aliases={"place": "location"}, other="unknown",
                             conflict="drop")
    labels = read_labels(out)
    assert " home" not in labels and labels[" city"] == "location" and labels[" one"] == "number"
    assert labels[" Paris"] == "location"  # kept: no --model to say it is no single token
    assert any("'Number' -> number (10)" in c for c in res.changes)
    assert any("left out (--conflict drop)" in c for c in res.changes)
    assert any("skipped 1 entries" in c and "README.md" in c for c in res.changes)


@pytest.mark.parametrize(("name", "text"), [
    ("rows.csv", "token,label\n city,LOC\n one,NUM\n city,LOC\n"),
    ("rows.tsv", "token_str\ttype\n city\tLOC\n one\tNUM\n"),
    ("rows.jsonl", '{"token": " city", "label": "LOC"}\n\n{"token": " one", "label": "NUM"}\n'),
    ("lists.json", '{"LOC": [" city"], "NUM": [" one"]}'),
    ("pairs.json", '[[" city", "LOC"], [" one", "NUM"]]'),
    ("zoo_rows.json", '[{"token_id": 1245, "token_str": " city", "type": "LOC"},'
                      ' {"token_id": 499, "token_str": " one", "type": "NUM"}]'),
    ("marked.json", '{"Ġcity": "LOC", "Ġone": "NUM"}'),
])
def test_label_shapes(tmp_path, name, text) -> None:
    out = tmp_path / "out.json"
    import_token_types(write(tmp_path / name, text), out, aliases={"LOC": "location", "NUM": "number"})
    assert read_labels(out) == {" city": "location", " one": "number"}


def test_ids_need_the_model_and_a_bad_target_is_refused(tmp_path) -> None:
    src = write(tmp_path / "ids.json", '{"1245": "location", "499": "number"}')
    refused(lambda: import_token_types(src, tmp_path / "o.json"), "keyed by token ids", where="ids.json:1")
    # said to be strings, they are written as such; the file still reads as id-keyed to validate, which says so
    refused(lambda: import_token_types(src, tmp_path / "o.json", key="string"), "looks keyed by token ids")
    refused(lambda: import_token_types(src, tmp_path / "o.json", aliases={"X": "locaton"}), "did you mean 'location'?")


# ---------------------------------------------------------------- sentences

def test_sentences_plain_shape_with_repeats_and_aliases(tmp_path) -> None:
    out = tmp_path / "s.json"
    refused(lambda: import_sentences(DATA / "sentences_plain.json", out), "'place' x1", where="sentences_plain.json:6")
    res = import_sentences(DATA / "sentences_plain.json", out, aliases={"place": "location"})
    data = read_file(str(out))
    assert data["type"]["number"] == ["The recipe calls for exactly", "She counted up to", "He was born in the year"]
    assert data["removed"] == {"vocab": {}, "type": {}}  # the import removed them; none left to count at read
    assert res.summary["number"] == {"sentences": 3, "repeats removed": 2}
    assert read_prompt_sets(out).by_type == data["type"]  # the same file serves transfer.prompt_sets


@pytest.mark.parametrize(("name", "text"), [
    ("s.txt", "[Location]\nThe city of\n\nThe city of\n[number]\nCount to\n"),
    ("s.csv", "type,sentence\nLocation,The city of\nLocation,The city of\nnumber,Count to\n"),
    ("s.json", '{"types": {"Location": ["The city of", "The  city of"], "number": ["Count to"]}}'),
    ("s2.json", '{"type": {"location": ["The city of"], "number": ["Count to", "Count to"]}, "vocab": {" a": ["x"]}}'),
])
def test_sentence_shapes(tmp_path, name, text) -> None:
    out = tmp_path / "out.json"
    res = import_sentences(write(tmp_path / name, text), out)
    assert read_file(str(out))["type"] == {"location": ["The city of"], "number": ["Count to"]}
    assert any("kept once" in c for c in res.changes)


def test_sentences_folder(tmp_path) -> None:
    res = import_sentences(DATA / "sentences_folder", tmp_path / "s.json")
    assert res.summary == {"location": {"sentences": 3, "repeats removed": 1},
                           "number": {"sentences": 2, "repeats removed": 1}}


# ---------------------------------------------------------------- token sets

def test_sets_with_alias_levels_markers_and_repeats(tmp_path) -> None:
    out = tmp_path / "sets.json"
    res = import_sets(DATA / "sets_aliases.json", out)
    sets = read_token_sets(out).sets
    assert sets["location"]["target"][:2] == [" city", " town"] and sets["location"]["target"].count(" city") == 1
    assert set(sets["number"]) == {"target", "high", "medium", "random"}
    assert any("byte-level BPE" in c for c in res.changes) and any("repeated strings" in c for c in res.changes)


def test_sets_folder_one_type_and_rows(tmp_path) -> None:
    res = import_sets(DATA / "sets_folder", tmp_path / "a.json")
    assert read_token_sets(tmp_path / "a.json").sets["number"]["medium"] == [" dog", " mother"]
    assert any("'low_interference' -> 'medium'" in c for c in res.changes)
    refused(lambda: import_sets(DATA / "sets_one_type.json", tmp_path / "b.json"), "--type",
            where="sets_one_type.json:1")
    import_sets(DATA / "sets_one_type.json", tmp_path / "b.json", type_="number")
    assert list(read_token_sets(tmp_path / "b.json").sets) == ["number"]
    rows = "type,level,token\nlocation,target, city\nlocation,HIGH, a\nlocation,low_interference, b\n" \
           "location,random, c\n"
    import_sets(write(tmp_path / "r.csv", rows), tmp_path / "c.json")
    assert read_token_sets(tmp_path / "c.json").sets["location"]["medium"] == [" b"]


def test_sets_refusals_and_dedup(tmp_path) -> None:
    src = write(tmp_path / "s.json", json.dumps({"location": {"target": [" a"], "hihg": [" b"], "medium": [" c"],
                                                              "random": [" d"]}}))
    refused(lambda: import_sets(src, tmp_path / "o.json"), "did you mean 'high'?", where="s.json:1")
    import_sets(src, tmp_path / "o.json", level_map=["hihg=high"])
    src = write(tmp_path / "e.json", json.dumps({"location": {"target": [" a"], "high": [], "medium": [" c"],
                                                              "random": [" d"]}}))
    refused(lambda: import_sets(src, tmp_path / "o.json"), "high (empty)")
    src = write(tmp_path / "d.json", json.dumps({"location": {"target": [" a"], "high": [" b", " x"],
                                                              "medium": [" c", " x"], "random": [" d"]}}))
    assert any("both HIGH and MEDIUM" in w for w in import_sets(src, tmp_path / "o.json").warnings)
    res = import_sets(src, tmp_path / "o.json", dedup=True)
    assert read_token_sets(tmp_path / "o.json").sets["location"]["high"] == [" b"]
    assert any("--dedup" in c for c in res.changes)


# ---------------------------------------------------------------- Neuronpedia

def _sae(root: Path, start: int = 0, plain: bool = False, index: str = '"index": 0') -> Path:
    for part in ("features", "activations", "explanations"):
        (root / part).mkdir(parents=True)
        rec = f'{{{index}, "description": "{root.name}"}}\n'
        if plain:
            (root / part / f"batch-{start}.jsonl").write_text(rec, encoding="utf-8")
        else:
            with gzip.open(root / part / f"batch-{start}.jsonl.gz", "wt", encoding="utf-8") as fh:
                fh.write(rec)
    return root


def test_neuronpedia_layout_for_several_sources_and_hooks(tmp_path) -> None:
    from interf_dsl.atlas.neuronpedia import read_export, sae_folder

    _sae(tmp_path / "dl" / "gpt2-small" / "8-res-jb", start=3)
    _sae(tmp_path / "dl" / "pythia-70m-deduped" / "4-att-sm", plain=True)
    _sae(tmp_path / "dl" / "gpt2-small" / "9-res-jb")
    res = import_neuronpedia(tmp_path / "dl", tmp_path / "export",
                             ["gpt2/blocks.8.hook_resid_pre=gpt2-small/8-res-jb",
                              "pythia/L4.attn_out=pythia-70m-deduped/4-att-sm"])
    assert sorted(res.summary) == ["gpt2/L8.resid_pre", "pythia/L4.attn_out"]
    assert any("batches 3..3 renumbered 0..0" in c for c in res.changes) and any("gzipped" in c for c in res.changes)
    assert any("gpt2-small/9-res-jb" in w for w in res.warnings)
    folder = sae_folder(tmp_path / "export", "pythia", "blocks.4.hook_attn_out")
    assert folder == tmp_path / "export" / "pythia" / "L4.attn_out"
    assert read_export(folder)["explanations"]["explanation"].to_list() == ["4-att-sm"]


def test_neuronpedia_refusals(tmp_path) -> None:
    _sae(tmp_path / "dl" / "a")
    _sae(tmp_path / "dl" / "b", index='"id": 0')
    refused(lambda: import_neuronpedia(tmp_path / "dl", tmp_path / "x", []), "--sae SOURCE/HOOK=SUBFOLDER")
    refused(lambda: import_neuronpedia(tmp_path / "dl", tmp_path / "x", ["gpt2=a"]), "expected SOURCE/HOOK")
    refused(lambda: import_neuronpedia(tmp_path / "dl", tmp_path / "x", ["gpt2/L1.resid_pots=a"]),
            "did you mean 'resid_post'?")
    refused(lambda: import_neuronpedia(tmp_path / "dl", tmp_path / "x", ["gpt2/L1.resid_post=."]),
            "is no Neuronpedia export")
    refused(lambda: import_neuronpedia(tmp_path / "dl", tmp_path / "x", ["gpt2/L1.resid_post=b"]),
            "has no integer 'index'")


def test_the_cli_prints_the_changes_and_exits_2_located(tmp_path) -> None:
    env_cmd = [sys.executable, "-m", "interf_dsl", "import", "sets"]
    ok = subprocess.run([*env_cmd, str(DATA / "sets_folder"), "--to", str(tmp_path / "s.json")],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "changed: levels renamed" in ok.stdout, ok.stderr
    bad = subprocess.run([*env_cmd, str(DATA / "sets_one_type.json"), "--to", str(tmp_path / "t.json")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "sets_one_type.json:1:2: error:" in bad.stderr and "Traceback" not in bad.stderr
