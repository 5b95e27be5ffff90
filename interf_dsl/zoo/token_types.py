"""Token-type labels (docs/method.md §4.2) from WordNet's lexicographer files plus rules; reusable for any tokenizer.

Input: token strings (byte-level `Ġ`, SentencePiece `▁` and WordPiece `##` markers are understood) and the WordNet
database of the Debian package `wordnet-base` (`/usr/share/wordnet`, or `$WNSEARCHDIR`). Output: one of the 15 types
per token. The zoo build writes `token_types.json` for the zoo vocabulary; the paper's own route (an LLM labeller)
is the documented alternative for real models.

How a token is labelled, first rule that applies:
1. digits, ordinals and number words -> number; colour words -> color; pronouns -> person;
   stop words, fragments shorter than 2 letters and non-alphabetic strings -> unknown;
2. WordNet: the word (or its base form by WordNet's morphology rules and exception lists) is looked up in every
   part of speech; the part of speech with the most sense-tagged uses wins and its first sense's lexicographer file
   gives the type (`LEXFILE_TYPES`); noun senses under vehicle/conveyance become transport, under colour become
   color, under science/discipline become science.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

from interf_dsl.errors import BackendError

LEXFILE_TYPES = {
    "adj.all": "abstract", "adj.pert": "abstract", "adv.all": "abstract", "noun.Tops": "abstract",
    "noun.act": "action", "noun.animal": "animal", "noun.artifact": "object", "noun.attribute": "abstract",
    "noun.body": "body", "noun.cognition": "abstract", "noun.communication": "abstract", "noun.event": "abstract",
    "noun.feeling": "emotion", "noun.food": "food", "noun.group": "abstract", "noun.location": "location",
    "noun.motive": "abstract", "noun.object": "object", "noun.person": "person", "noun.phenomenon": "science",
    "noun.plant": "object", "noun.possession": "abstract", "noun.process": "science", "noun.quantity": "number",
    "noun.relation": "abstract", "noun.shape": "abstract", "noun.state": "abstract", "noun.substance": "science",
    "noun.time": "time", "verb.emotion": "emotion", "adj.ppl": "abstract",
}
_LEXNAMES = ("adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute noun.body "
             "noun.cognition noun.communication noun.event noun.feeling noun.food noun.group noun.location "
             "noun.motive noun.object noun.person noun.phenomenon noun.plant noun.possession noun.process "
             "noun.quantity noun.relation noun.shape noun.state noun.substance noun.time verb.body verb.change "
             "verb.cognition verb.communication verb.competition verb.consumption verb.contact verb.creation "
             "verb.emotion verb.motion verb.perception verb.possession verb.social verb.stative verb.weather "
             "adj.ppl").split()
NUMBER_WORDS = set("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                   "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
                   "hundred thousand million billion trillion dozen first second third fourth fifth sixth seventh "
                   "eighth ninth tenth half twice".split())
COLOR_WORDS = set("red green blue yellow black white orange purple pink brown gray grey violet crimson scarlet "
                  "golden silver indigo azure beige maroon turquoise magenta cyan amber ivory tan olive navy "
                  "lavender teal".split())
PRONOUNS = set("i me my mine myself you your yours he him his himself she her hers herself we us our ours they "
               "them their theirs who whom".split())
STOP_WORDS = set("a an the and or but if of to in on at by for with from as is are was were be been being am do "
                 "does did not no so than that this these those it its there here then when where which what how "
                 "why all any some can could will would shall should may might must has have had up out off over "
                 "into onto also just very too".split())
_SUBTREES = {"transport": ("conveyance", "vehicle"), "color": ("chromatic_color", "color"),
             "science": ("science", "discipline")}
_MORPH = {"n": [("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
                ("men", "man"), ("ies", "y")],
          "v": [("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"),
                ("ing", "")],
          "a": [("er", ""), ("est", ""), ("er", "e"), ("est", "e")], "r": []}
_POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}


def wordnet_dir() -> Path:
    """The WordNet database folder (Debian `wordnet-base`), or BackendError with the install command."""
    for cand in (os.environ.get("WNSEARCHDIR"), "/usr/share/wordnet", "/usr/share/wordnet/dict"):
        if cand and (Path(cand) / "data.noun").exists():
            return Path(cand)
    raise BackendError("WordNet database not found (looked in $WNSEARCHDIR and /usr/share/wordnet)",
                       hint="apt-get install -y wordnet-base, or set WNSEARCHDIR to a WordNet 3.0 dict folder")


class _WordNet:
    """The few parts of WordNet the labeller needs: index, lexfile of each synset, hypernyms, exceptions."""

    def __init__(self, root: Path) -> None:
        self.index: dict[str, dict[str, tuple[int, list[str]]]] = {}  # pos -> lemma -> (tagged count, offsets)
        self.lexfile: dict[tuple[str, str], str] = {}
        self.hyper: dict[str, list[str]] = {}
        self.lemma_synsets: dict[str, list[str]] = {}
        self.exc: dict[str, dict[str, str]] = {}
        for pos, fname in _POS_FILES.items():
            self._read_index(root / f"index.{fname}", pos)
            self._read_data(root / f"data.{fname}", pos)
            exc = root / f"{fname}.exc"
            self.exc[pos] = dict(line.split()[:2] for line in exc.read_text().splitlines() if len(line.split()) > 1)

    def _read_index(self, path: Path, pos: str) -> None:
        table = self.index.setdefault(pos, {})
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(" "):
                continue
            f = line.split()
            n_synsets, n_ptrs = int(f[2]), int(f[3])
            tagged = int(f[5 + n_ptrs])
            table[f[0]] = (tagged, f[-n_synsets:])

    def _read_data(self, path: Path, pos: str) -> None:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(" "):
                continue
            f = line.split("|")[0].split()
            off, lexfile = f[0], _LEXNAMES[int(f[1])]
            self.lexfile[(pos, off)] = lexfile
            n_words = int(f[3], 16)
            if pos == "n":
                for w in f[4 : 4 + 2 * n_words : 2]:
                    self.lemma_synsets.setdefault(w.lower(), []).append(off)
                ptr_at = 4 + 2 * n_words
                n_ptr = int(f[ptr_at])
                ptrs = f[ptr_at + 1 : ptr_at + 1 + 4 * n_ptr]
                self.hyper[off] = [ptrs[i + 1] for i in range(0, len(ptrs), 4) if ptrs[i] in ("@", "@i")]

    def base_forms(self, word: str, pos: str) -> list[str]:
        forms = [word] if word in self.index[pos] else []
        if word in self.exc[pos]:
            forms.append(self.exc[pos][word])
        for suffix, repl in _MORPH[pos]:
            if word.endswith(suffix) and len(word) > len(suffix) + 1:
                cand = word[: -len(suffix)] + repl
                if cand in self.index[pos]:
                    forms.append(cand)
        return [f for f in forms if f in self.index[pos]]

    @functools.cache  # noqa: B019 - one instance per process (see _wordnet)
    def subtree_type(self, off: str) -> str | None:
        roots = {t: {o for w in words for o in self.lemma_synsets.get(w, ())} for t, words in _SUBTREES.items()}
        seen, frontier = set(), [off]
        while frontier:
            cur = frontier.pop()
            if cur in seen:
                continue
            seen.add(cur)
            for t, offs in roots.items():
                if cur in offs:
                    return t
            frontier.extend(self.hyper.get(cur, ()))
        return None


@functools.cache
def _wordnet() -> _WordNet:
    return _WordNet(wordnet_dir())


def normalise_token(token: str) -> str:
    """The word inside a token string: tokenizer space markers removed, lower-cased, stripped."""
    token = token.replace("Ġ", " ").replace("▁", " ").removeprefix("##")
    return token.strip().lower()


def label_word(word: str) -> str:
    """The type of one normalised word (see the module docstring for the rules)."""
    if re.fullmatch(r"\d+(st|nd|rd|th|s)?|\d+[.,]\d+", word) or word in NUMBER_WORDS:
        return "number"
    if word in COLOR_WORDS:
        return "color"
    if word in PRONOUNS:
        return "person"
    if word in STOP_WORDS or len(word) < 2 or not word.isalpha() or not word.isascii():
        return "unknown"
    wn = _wordnet()
    best: tuple[int, int, str, str] | None = None
    for rank, pos in enumerate(("n", "v", "a", "r")):
        for form in wn.base_forms(word, pos):
            tagged, offsets = wn.index[pos][form]
            cand = (tagged, -rank, pos, offsets[0])
            if best is None or cand[:2] > best[:2]:
                best = cand
    if best is None:
        return "unknown"
    _, _, pos, off = best
    lexfile = wn.lexfile[(pos, off)]
    if pos == "n":
        sub = wn.subtree_type(off)
        if sub:
            return sub
    if lexfile.startswith("verb.") and lexfile != "verb.emotion":
        return "action"
    return LEXFILE_TYPES.get(lexfile, "unknown")


def label_token_types(token_strings: list[str]) -> list[str]:
    """One of the 15 token types for each token string (any tokenizer's surface forms)."""
    return [label_word(normalise_token(t)) for t in token_strings]


def build_token_types(tokenizer_dir: Path, out_file: Path) -> dict:
    """Label the whole zoo vocabulary, write `token_types.json`, and return the type counts for the card."""
    import json
    from collections import Counter

    vocab = json.loads((tokenizer_dir / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
    ids = sorted(vocab.values())
    by_id = {i: t for t, i in vocab.items()}
    strings = [by_id[i] for i in ids]
    types = label_token_types(strings)
    rows = [{"token_id": i, "token_str": s, "type": t} for i, s, t in zip(ids, strings, types, strict=True)]
    out_file.write_text(json.dumps(rows, ensure_ascii=False, indent=0), encoding="utf-8")
    counts = Counter(types)
    return {"token_type_counts": dict(sorted(counts.items(), key=lambda kv: -kv[1]))}
