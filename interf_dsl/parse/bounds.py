"""Parse stage, bounds: hostile spec text is refused, located, before anything is built from it.

A real spec is a few kilobytes with a handful of nesting levels. These limits sit far above that and keep every
refusal under a second, whatever the input:

    MAX_SPEC_BYTES  2 MiB    a larger file is refused at 1:1 without reading the rest
    MAX_DEPTH       64       nested mappings / lists (YAML and `.interf`; a YAML alias counts at its use)
    MAX_NODES       50,000   keys and values, every use of a YAML alias counted as the copy it stands for
                             (an alias bomb, "billion laughs", is refused at the alias use that crosses the bound)
    MAX_INT_DIGITS  100      characters of one integer (Python refuses to convert 4,300 digits)

Also refused, each at its character: text that is not UTF-8; control characters (NUL, ...; in YAML everything
outside its printable set, YAML 1.1 §5.1; in `.interf` the C0 controls, which a string writes as escapes); in YAML,
any explicit tag (`!!int`, `!!binary`, `!!python/name:...`, `!foo`: a spec holds plain values only, so quote a value
to keep it text), merge keys (`<<`), a bare `=` (YAML's "value" key) and an alias inside the node it names (a cycle).
YAML syntax errors are left to `_source.load_yaml`, which reports them located.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from interf_dsl.errors import Span, SpecError

MAX_SPEC_BYTES = 2 * 1024 * 1024
"""The largest spec file read (bytes)."""
MAX_DEPTH = 64
"""The deepest nesting of mappings and lists, in either spelling."""
MAX_NODES = 50_000
"""The most keys + values a spec may hold once its YAML aliases are expanded."""
MAX_INT_DIGITS = 100
"""The longest integer literal (range checks come later; this only keeps the conversion from failing)."""

_YAML_TAG = "tag:yaml.org,2002:"
_PLAIN_TAGS = frozenset(_YAML_TAG + t for t in ("null", "bool", "int", "float", "str", "timestamp"))
"""What an untagged plain scalar may resolve to (the spec loader reads timestamps back as strings)."""
_NOT_YAML = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Outside YAML's printable set (YAML 1.1 §5.1): its reader refuses them."""
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
"""C0 control characters but tab and line breaks: refused in `.interf` text (a string escapes them)."""
_DSL_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|(?:#|//)[^\n]*|[{\[]|[}\]]|[^\s{}\[\]=,"#]+')
_TOO_DEEP = f"nesting deeper than {MAX_DEPTH} levels"
_HINT_DEEP = "a spec nests a few levels; check for unbalanced brackets"
_DSL_INT = re.compile(r"-?[0-9]+")
_LONG_INT = f"an integer longer than {MAX_INT_DIGITS} digits"
_HINT_INT = "integers in a spec are counts, sizes and seeds: this many digits is a slip"
_HINT_SIZE = "a spec is a few kilobytes; keep large data (prompts, sentences, corpora) in the files it names"


class _Events(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader's parser (libyaml when available), read event by event; nothing is composed."""


def read_spec_file(path: Path) -> str:
    """The text of a spec file: at most `MAX_SPEC_BYTES`, UTF-8, printable (each refusal located)."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"cannot read spec '{path}': {exc.strerror or exc}") from None
    if len(data) > MAX_SPEC_BYTES:
        raise _too_large(str(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        prefix = data[:exc.start].decode("utf-8", errors="replace")
        line, col = _line_col(prefix, len(prefix))
        raise SpecError(f"the spec is not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded",
                        span=Span(str(path), line, col), hint="save the file as UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as a text-mode read


def check_text(text: str, path: str, refused: re.Pattern[str] = _CONTROL) -> None:
    """Size, and characters `refused` (control characters; for YAML, all it cannot read)."""
    if len(text) * 4 > MAX_SPEC_BYTES and len(text.encode("utf-8")) > MAX_SPEC_BYTES:
        raise _too_large(path)
    bad = refused.search(text)
    if bad:
        char = bad.group()
        name = "NUL" if char == "\0" else "a control character"
        raise _at(path, text, bad.start(), f"{name} (U+{ord(char):04X}) is not allowed in a spec",
                  hint="remove it; write it as an escape inside a double-quoted string if it is meant")


def check_yaml(text: str, path: str) -> None:
    """Nesting, expanded size, tags, merge keys and alias cycles of YAML text, from its parse events."""
    check_text(text, path, _NOT_YAML)
    events = _Events(text)
    try:
        _YamlScan(path, text).run(events)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        if mark is not None and "nesting depth" in str(exc.problem):  # libyaml's own bound (1000), met first
            raise _at(path, text, mark.index, _TOO_DEEP, hint=_HINT_DEEP) from None
        return  # a syntax error: load_yaml reports it, located, in the same words as for any spec
    except yaml.reader.ReaderError as exc:  # check_text refuses what the reader would; kept for any other
        offset = exc.position  # libyaml counts bytes, the pure-Python reader characters
        if hasattr(yaml, "CSafeLoader"):
            offset = len(text.encode("utf-8")[:offset].decode("utf-8", errors="ignore"))
        raise _at(path, text, offset, f"YAML reader: {exc.reason}") from None
    finally:
        events.dispose()


def check_dsl(text: str, path: str) -> None:
    """Nesting and size of `.interf` text, from a token scan (strings and comments skipped)."""
    check_text(text, path)
    depth = nodes = 0
    for tok in _DSL_TOKEN.finditer(text):
        if tok.group().startswith(("#", "//")):
            continue
        first = tok.group()[0]
        if first in "}]":
            depth = max(0, depth - 1)
            continue
        if len(tok.group()) > MAX_INT_DIGITS and _DSL_INT.fullmatch(tok.group()):
            raise _at(path, text, tok.start(), _LONG_INT, hint=_HINT_INT)
        nodes += 1
        if nodes > MAX_NODES:
            raise _at(path, text, tok.start(), f"the spec holds more than {MAX_NODES:,} keys and values",
                      hint=_HINT_SIZE)
        if first in "{[":
            depth += 1
            if depth > MAX_DEPTH:
                raise _at(path, text, tok.start(), _TOO_DEEP, hint=_HINT_DEEP)


@dataclass
class _Frame:
    """An open mapping or list: its anchor, and its expanded size and height so far."""

    anchor: str | None
    nodes: int = 1
    height: int = 1


class _YamlScan:
    """One pass over the parse events: nothing is built, so even an alias bomb costs microseconds."""

    def __init__(self, path: str, text: str) -> None:
        self.path, self.text = path, text
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[int, int]] = {}
        self.total = 0

    def run(self, events: _Events) -> None:
        while True:
            ev = events.get_event()
            if ev is None or isinstance(ev, yaml.StreamEndEvent):
                return
            if isinstance(ev, yaml.ScalarEvent):
                self.scalar(ev)
            elif isinstance(ev, yaml.AliasEvent):
                self.alias(ev)
            elif isinstance(ev, yaml.CollectionStartEvent):
                self.tag(ev)
                self.count(ev, 1, aliased=False)
                self.stack.append(_Frame(ev.anchor))
                if len(self.stack) > MAX_DEPTH:
                    raise self.error(ev, _TOO_DEEP, _HINT_DEEP)
            elif isinstance(ev, yaml.CollectionEndEvent):
                frame = self.stack.pop()
                if frame.anchor is not None:
                    self.anchors[frame.anchor] = (frame.nodes, frame.height)
                self.add(frame.nodes, frame.height)

    def scalar(self, ev: yaml.ScalarEvent) -> None:
        self.tag(ev)
        if ev.implicit[0]:
            resolved = _RESOLVER.resolve(yaml.ScalarNode, ev.value, ev.implicit)
            if resolved == _YAML_TAG + "merge":
                raise self.error(ev, "YAML merge keys (`<<`) are not supported in a spec",
                                 "write the keys out, or alias the whole mapping (`key: *anchor`)", 2)
            if resolved not in _PLAIN_TAGS:
                raise self.error(ev, f"a bare '{ev.value}' is special in YAML", f"quote it: '{ev.value}'")
            if resolved == _YAML_TAG + "int" and len(ev.value) > MAX_INT_DIGITS:
                raise self.error(ev, _LONG_INT, _HINT_INT)
        self.count(ev, 1, aliased=False)
        if ev.anchor is not None:
            self.anchors[ev.anchor] = (1, 0)
        self.add(1, 0)

    def alias(self, ev: yaml.AliasEvent) -> None:
        if any(frame.anchor == ev.anchor for frame in self.stack):
            raise self.error(ev, f"alias '*{ev.anchor}' is inside the node it names (a cycle)",
                             "an alias may only repeat a node that is complete")
        nodes, height = self.anchors.get(ev.anchor, (1, 0))  # undefined: load_yaml reports it
        if len(self.stack) + height > MAX_DEPTH:
            raise self.error(ev, f"alias '*{ev.anchor}' nests the spec deeper than {MAX_DEPTH} levels",
                             "a spec nests a few levels", 1 + len(ev.anchor))
        self.count(ev, nodes, aliased=True)
        self.add(nodes, height)

    def tag(self, ev: yaml.NodeEvent) -> None:
        if ev.tag is None:
            return
        written = "!!" + ev.tag[len(_YAML_TAG):] if ev.tag.startswith(_YAML_TAG) else ev.tag
        start = self.text.find("!", ev.start_mark.index, ev.end_mark.index + 1)
        raise _at(self.path, self.text, start if start >= 0 else ev.start_mark.index,
                  f"explicit YAML tag '{written}' is not allowed in a spec",
                  hint="a spec holds plain values only (text, numbers, true/false, null, lists, mappings): "
                       "drop the tag, or quote the value to keep it text", length=len(written))

    def count(self, ev: yaml.Event, nodes: int, *, aliased: bool) -> None:
        self.total += nodes
        if self.total <= MAX_NODES:
            return
        if aliased:
            raise self.error(ev, f"alias '*{ev.anchor}' expands the spec past {MAX_NODES:,} keys and values "
                                 "(each use of an alias is a full copy)",
                             "a YAML alias bomb? repeat small values instead of nesting aliases",
                             1 + len(ev.anchor))
        raise self.error(ev, f"the spec holds more than {MAX_NODES:,} keys and values", _HINT_SIZE)

    def add(self, nodes: int, height: int) -> None:
        if self.stack:
            parent = self.stack[-1]
            parent.nodes += nodes
            parent.height = max(parent.height, height + 1)

    def error(self, ev: yaml.Event, message: str, hint: str, length: int = 1) -> SpecError:
        return _at(self.path, self.text, ev.start_mark.index, message, hint=hint, length=length)


_RESOLVER = _Events("")
"""Resolves plain scalars the way the spec loader does (the parser it holds is never read)."""


def _too_large(path: str) -> SpecError:
    return SpecError(f"the spec is larger than {MAX_SPEC_BYTES // (1024 * 1024)} MiB", span=Span(path, 1, 1),
                     hint=_HINT_SIZE)


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _at(path: str, text: str, offset: int, message: str, *, hint: str | None = None, length: int = 1) -> SpecError:
    line, col = _line_col(text, offset)
    return SpecError(message, span=Span(path, line, col, length), hint=hint)
