"""Zoo build, step 1: the training corpus, read from Debian packages installed on this machine.

Input: the text files of the Debian packages listed in `SOURCES` (fortunes, WordNet, dictd dictionaries).
Output: `corpus/train.txt` and `corpus/heldout.txt` (documents separated by a blank line plus the EOS marker) and the
shipped held-out sample `heldout.jsonl.gz` (redistributable sources only, split into disjoint `atlas` / `prompts`
parts). No network, no heavy imports: plain Python over `/usr/share`.

The split is by a stable hash of each document's text, so rebuilding on another machine with the same package
versions gives the same split.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from interf_dsl.errors import BackendError

DOC_SEP = "\n\n<|endoftext|>\n\n"
HELDOUT_PERCENT = 3  # of every source, by document hash
PROMPTS_PERCENT = 30  # of the shipped held-out sample, by a second hash; the rest is `atlas`


@dataclass(frozen=True)
class Source:
    """One Debian package of text: where it lives, its licence, and whether the repo may ship a sample of it."""

    name: str
    package: str
    licence: str
    path: str
    shippable: bool
    note: str = ""


SOURCES: tuple[Source, ...] = (
    Source("fortunes", "fortunes, fortunes-min", "BSD-4-Clause (fortune-mod; Debian copyright file)",
           "/usr/share/games/fortunes", True, "non-offensive cookie files; ascii-art and ethnic files skipped"),
    Source("wordnet", "wordnet-base", "WordNet 3.0 licence (permissive, Princeton)",
           "/usr/share/wordnet", True, "one document per synset: lemmas, gloss and usage examples"),
    Source("jargon", "dict-jargon", "public domain (The Jargon File 4.4.7)",
           "/usr/share/dictd/jargon.dict.dz", True, "one document per entry"),
    Source("gcide", "dict-gcide", "GPL-2+ (GCIDE 0.48)",
           "/usr/share/dictd/gcide.dict.dz", False, "training only: GPL text is not shipped in the sample"),
    Source("devil", "dict-devil", "public domain (Bierce 1911)",
           "/usr/share/dictd/devil.dict.dz", False, "training only: contains 1911-era slurs, never shipped"),
)
_SKIP_FORTUNES = {"ascii-art", "ethnic"}
_APT_HINT = "install the corpus packages: apt-get install -y fortunes fortunes-min wordnet-base dict-gcide dict-devil dict-jargon"


def _hash_percent(text: str, salt: str) -> int:
    return int(hashlib.sha1((salt + text).encode("utf-8")).hexdigest()[:8], 16) % 100


def _clean(text: str) -> str:
    return re.sub(r"[ \t]+", " ", text).strip()


def _fortunes(root: Path) -> Iterator[str]:
    for f in sorted(root.iterdir()):
        if not f.is_file() or f.suffix or f.name in _SKIP_FORTUNES:
            continue
        for chunk in f.read_text("utf-8", errors="replace").split("\n%\n"):
            chunk = "\n".join(line.rstrip() for line in chunk.strip("%\n").splitlines())
            if len(chunk) > 20:
                yield chunk


def _wordnet(root: Path) -> Iterator[str]:
    for pos, label in (("noun", "noun"), ("verb", "verb"), ("adj", "adjective"), ("adv", "adverb")):
        for line in (root / f"data.{pos}").read_text("utf-8", errors="replace").splitlines():
            if line.startswith("  ") or "|" not in line:
                continue
            head, gloss = line.split("|", 1)
            fields = head.split()
            n_words = int(fields[3], 16)
            words = [fields[4 + 2 * i].replace("_", " ") for i in range(n_words)]
            words = [re.sub(r"\(.*\)$", "", w) for w in words]
            yield f"{', '.join(words)} ({label}): {_clean(gloss)}"


def _dictd_entries(path: Path) -> Iterator[str]:
    """Entries of a dictd `.dict.dz` (gzip-readable): a new entry starts at a non-indented line after a blank one."""
    text = gzip.open(path, "rt", encoding="utf-8", errors="replace").read()
    entry: list[str] = []
    blank = True
    for line in text.splitlines():
        if line and not line[0].isspace() and blank and entry:
            yield "\n".join(entry)
            entry = []
        if line.strip() or entry:
            entry.append(line.rstrip())
        blank = not line.strip()
    if entry:
        yield "\n".join(entry)


def _dict_clean(entry: str) -> str | None:
    if entry.startswith("00-database") or "General Public License" in entry or "* * *" in entry:
        return None
    entry = re.sub(r"\[(1913 Webster|WordNet 1\.5|PJC|Webster 1913 Suppl\.|RH|NPD|Century Dict\.)\]", "", entry)
    entry = re.sub(r"\\[^\\\n]{1,60}\\", "", entry)  # GCIDE pronunciations \Ab*do"men\
    entry = entry.replace("{", "").replace("}", "")
    entry = "\n".join(_clean(line) for line in entry.splitlines())
    entry = re.sub(r"\n{3,}", "\n\n", entry).strip()
    return entry if len(entry) > 20 else None


def iter_source(src: Source) -> Iterator[str]:
    """Documents of one source, in a stable order.

    Raises:
        BackendError: the package's files are missing.
    """
    path = Path(src.path)
    if not path.exists():
        raise BackendError(f"corpus source '{src.name}' not found at {path}", hint=_APT_HINT)
    if src.name == "fortunes":
        yield from _fortunes(path)
    elif src.name == "wordnet":
        yield from _wordnet(path)
    else:
        for entry in _dictd_entries(path):
            cleaned = _dict_clean(entry)
            if cleaned:
                yield cleaned


def build_corpus(out: Path) -> dict:
    """Write train/held-out text and the shipped held-out sample under `out`; return per-source statistics."""
    corpus_dir = out / "corpus"
    corpus_dir.mkdir(parents=True, exist_ok=True)
    stats: dict[str, dict] = {}
    sample: list[dict] = []
    with open(corpus_dir / "train.txt", "w", encoding="utf-8") as ftrain, \
            open(corpus_dir / "heldout.txt", "w", encoding="utf-8") as fheld:
        for src in SOURCES:
            n_docs = n_chars = n_held = 0
            for doc in iter_source(src):
                n_docs += 1
                n_chars += len(doc)
                if _hash_percent(doc, "heldout") < HELDOUT_PERCENT:
                    n_held += 1
                    fheld.write(doc + DOC_SEP)
                    if src.shippable:
                        split = "prompts" if _hash_percent(doc, "prompts") < PROMPTS_PERCENT else "atlas"
                        sample.append({"source": src.name, "split": split, "text": doc})
                else:
                    ftrain.write(doc + DOC_SEP)
            stats[src.name] = {"package": src.package, "licence": src.licence, "shipped_in_sample": src.shippable,
                               "note": src.note, "documents": n_docs, "chars": n_chars, "heldout_documents": n_held}
    with gzip.open(out / "heldout.jsonl.gz", "wt", encoding="utf-8", compresslevel=9) as fh:
        for row in sample:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return stats
