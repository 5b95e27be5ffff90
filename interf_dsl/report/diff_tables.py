"""Report stage, for `diff.py`: one table of two runs compared row by row, one table at a time, in bounded memory.

Input: the two runs (`RunData`) and a table name. Output: a `TableDiff` (counts, keys, note), the change rows
appended to a list, and the aligned (joined) frame for an effect table's estimate deltas.

Short-cuts that read no rows: the row counts come from the parquet metadata; two files that are the same file
(a hard link, see `links.py`) or byte-identical hold the same table, so no row can differ. Whether the keys
identify rows is checked on one 64-bit hash per row (an exact check only where two hashes collide). A long table
that differs is first hashed row by row (key hash, value hash: 16 bytes a row); only the rows whose hashes differ
are read and compared exactly, in one pass where they are at most `CHUNK_ROWS`, else the whole table in buckets of
its key hash, about `CHUNK_ROWS` rows at a time (a key falls in the same bucket in both runs, so each bucket is a
complete comparison of its keys). `stream=False` is the former whole-table path
(every table read whole and kept), kept as the reference the streamed path is tested and benchmarked against.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interf_dsl.report.io import RunData

if TYPE_CHECKING:
    import polars as pl

CHUNK_ROWS = 250_000
"""A table that differs and has more rows than this is compared in key-hash buckets of about this many rows."""
_BLOCK = 1 << 20


@dataclass
class TableDiff:
    """How one table differs: counts and the keys it was aligned on."""

    table: str
    keys: list[str]
    rows_a: int
    rows_b: int
    added: int = 0
    removed: int = 0
    changed: int = 0
    note: str = ""


def same(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        if math.isnan(x) and math.isnan(y):
            return True
        return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
    return x == y


def num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def same_bytes(a: Path, b: Path) -> bool:
    """Whether two files hold the same bytes: the same file (a hard link), or equal sizes and equal blocks."""
    sa, sb = a.stat(), b.stat()
    if (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino):
        return True
    if sa.st_size != sb.st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(_BLOCK), fb.read(_BLOCK)
            if x != y:
                return False
            if not x:
                return True


def _unique(data: RunData, name: str, keys: list[str], stream: bool) -> bool:
    """Whether `keys` identify the rows of table `name` (streamed: one u64 hash per row is held, not the keys)."""
    import polars as pl

    if not stream:
        return bool(data.table(name).select(keys).is_unique().all())
    hashes = data.lazy(name).select(pl.struct(keys).hash().alias("h")).collect(engine="streaming")["h"]
    if hashes.is_unique().all():
        return True  # distinct hashes: distinct keys
    return bool(data.lazy(name).select(keys).collect().is_unique().all())  # a duplicate, or a hash collision


def _candidates(joined: pl.DataFrame, values: list[str]) -> pl.DataFrame:
    """Rows that may differ: in one run only, or with a value not exactly equal (tolerance is applied after)."""
    import polars as pl

    cond = ~(pl.col("__in_a") & pl.col("__in_b"))
    for col in values:
        cond = cond | ~pl.col(col).eq_missing(pl.col(f"{col}__b"))
    try:
        return joined.filter(cond)
    except pl.exceptions.PolarsError:  # a dtype polars cannot compare (e.g. structs of mixed types): check all rows
        return joined


def _join(ta: pl.DataFrame, tb: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Full join on `keys`, in file order (A's rows by `__ia`, then B-only rows by `__ib`)."""
    import polars as pl

    joined = ta.join(tb, on=keys, how="full", coalesce=True, suffix="__b", nulls_equal=True)
    return joined.with_columns(pl.col("__ia").is_not_null().alias("__in_a"),
                               pl.col("__ib").is_not_null().alias("__in_b")).sort("__ia", "__ib", nulls_last=True)


def _record(name: str, td: TableDiff, joined: pl.DataFrame, keys: list[str], values: list[str],
            found: list[tuple[tuple[float, float], dict[str, Any]]]) -> None:
    """Collect the added, removed and changed rows of one aligned frame (or bucket), each with its file-order
    position, counting them."""
    for row in _candidates(joined, values).iter_rows(named=True):
        key = {k: row[k] for k in keys}
        at = (math.inf if row["__ia"] is None else row["__ia"], row["__ib"] if row["__ib"] is not None else -1)
        if not row["__in_a"] or not row["__in_b"]:
            change = "added" if not row["__in_a"] else "removed"
            td.added += change == "added"
            td.removed += change == "removed"
            found.append((at, {"table": name, "change": change, "column": None, "a": None, "b": None,
                               "delta": None, "key": key}))
            continue
        changed = False
        for col in values:
            x, y = row[col], row[f"{col}__b"]
            if not same(x, y):
                changed = True
                found.append((at, {"table": name, "change": "changed", "column": col, "a": x, "b": y,
                                   "delta": (y - x) if num(x) and num(y) else None, "key": key}))
        td.changed += changed


def _side(data: RunData, name: str, index: str, bucket: pl.Expr | None, stream: bool) -> pl.DataFrame:
    """One run's table (or one key-hash bucket of it) with its file row numbers in column `index`."""
    if not stream:
        return data.table(name).with_row_index(index)
    lf = data.lazy(name).with_row_index(index)  # numbered before the bucket filter: file order survives
    return lf.collect() if bucket is None else lf.filter(bucket).collect(engine="streaming")


def _differing(da: RunData, db: RunData, name: str, keys: list[str], values: list[str]) -> pl.Series:
    """Key hashes of the rows that may differ (in one run only, or with another hash of their values), from a
    streamed pass holding two u64 per row; equal values hash alike, so no differing row is missed."""
    import polars as pl

    def hashes(d: RunData) -> pl.LazyFrame:
        value = pl.struct(values).hash() if values else pl.lit(0, dtype=pl.UInt64)
        return d.lazy(name).select(pl.struct(keys).hash().alias("k"), value.alias("v"))

    joined = hashes(da).join(hashes(db), on="k", how="full", coalesce=True, suffix="_b")
    return joined.filter(~pl.col("v").eq_missing(pl.col("v_b"))).select("k").collect(engine="streaming")["k"]


def _buckets(td: TableDiff, sa: dict[str, Any], sb: dict[str, Any], keys: list[str], whole: bool) -> int:
    """How many key-hash buckets to compare a differing table in (1: whole; also where the key dtypes differ
    between the runs, whose hashes would not match)."""
    if whole or any(sa[k] != sb[k] for k in keys):
        return 1
    return max(1, math.ceil(max(td.rows_a, td.rows_b) / CHUNK_ROWS))


def _filters(da: RunData, db: RunData, name: str, td: TableDiff, sa: dict[str, Any], sb: dict[str, Any],
             keys: list[str], values: list[str], whole: bool) -> list[pl.Expr | None]:
    """Row filters to align the table in, one after the other: [None] (whole), the rows whose hashes differ (one
    pass where they are at most CHUNK_ROWS), else key-hash buckets of about CHUNK_ROWS rows."""
    import polars as pl

    n = _buckets(td, sa, sb, keys, whole)
    if n == 1:
        return [None]
    if all(sa[c] == sb[c] for c in values):  # value hashes are comparable only between equal dtypes
        maybe = _differing(da, db, name, keys, values)
        if maybe.len() <= CHUNK_ROWS:
            return [pl.struct(keys).hash().is_in(maybe.implode())]
    return [(pl.struct(keys).hash() % n) == i for i in range(n)]


def aligned_keys(name: str, da: RunData, db: RunData) -> list[str]:
    """The keys table `name` is aligned on: A's recorded keys that B also records (either's when one has none)."""
    keys_a, keys_b = da.keys(name), db.keys(name)
    return [k for k in (keys_a or keys_b) if k in (keys_b or keys_a)]


def compare_table(name: str, da: RunData, db: RunData, rows: list[dict[str, Any]], *, stream: bool = True,
                  whole: bool = False, on_joined: Callable[[pl.DataFrame], None] | None = None) -> TableDiff:
    """Compare table `name` of runs A and B; change rows go to `rows`, the aligned frame to `on_joined`.

    Args:
        whole: align the table in one piece (effect tables: `on_joined` needs every row at once).
        stream: use the short-cuts and buckets (False: read both tables whole, the reference path).
    """

    in_a, in_b = name in da.table_names, name in db.table_names
    keys_a, keys_b = da.keys(name), db.keys(name)
    keys = aligned_keys(name, da, db)
    height = (lambda d: d.height(name)) if stream else (lambda d: d.table(name).height)
    td = TableDiff(name, keys, height(da) if in_a else 0, height(db) if in_b else 0)
    if not (in_a and in_b):
        td.added, td.removed = td.rows_b, td.rows_a
        td.note = "only in run B" if not in_a else "only in run A"
        rows.append({"table": name, "change": "added" if not in_a else "removed", "column": None,
                     "a": None, "b": None, "delta": None, "key": {"rows": td.rows_a or td.rows_b}})
        return td
    if keys_a != keys_b:
        td.note = f"keys differ (A: {keys_a}, B: {keys_b}); aligned on {keys}"
    if not keys or not _unique(da, name, keys, stream) or not _unique(db, name, keys, stream):
        td.note = f"cannot align rows: keys {keys} do not identify rows; compared row counts only"
        return td
    sa, sb = da.schema(name), db.schema(name)
    if any(sa[k].is_nested() for k in keys):
        td.note = f"cannot align rows: a key column of {keys} is a list"
        return td
    only = ([f"A only: {c}" for c in sa if c not in sb] + [f"B only: {c}" for c in sb if c not in sa])
    if only:
        td.note = (td.note + "; " if td.note else "") + "columns " + ", ".join(only)
    if stream and da.as_stored(name) and db.as_stored(name) and same_bytes(da.file(name), db.file(name)):
        return td  # one table: no row can differ
    values = [c for c in sa if c not in keys and c in sb]
    found: list[tuple[tuple[float, float], dict[str, Any]]] = []
    for bucket in _filters(da, db, name, td, sa, sb, keys, values, whole or not stream):
        joined = _join(_side(da, name, "__ia", bucket, stream), _side(db, name, "__ib", bucket, stream), keys)
        _record(name, td, joined, keys, values, found)
        if on_joined is not None:
            on_joined(joined)
        del joined
    found.sort(key=lambda item: item[0])  # stable: a row's changed columns stay in column order
    rows.extend(r for _, r in found)
    return td

