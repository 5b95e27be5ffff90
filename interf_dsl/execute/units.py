"""Execute stage: per-unit checkpoints inside one step (`ctx.units(name)`), the resume mechanism.

A long step splits its work into units (a target feature, a sentence batch, a batch of trials) and saves each
finished unit's table here. Each unit is one parquet file written atomically plus a small JSON sidecar holding the
unit key, its sequence number and the parquet's sha256; the sidecar is written second, so a unit counts as done only
when both are complete and agree. A run killed with SIGKILL therefore loses at most the unit in flight, and the
rerun skips every unit already stored. A damaged unit is treated as not done (and recomputed).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from interf_dsl.execute.atomic import (
    atomic_write_bytes,
    atomic_write_text,
    check_name,
    parquet_bytes,
    sha256_bytes,
    sha256_file,
)

if TYPE_CHECKING:
    import polars as pl


def _file_stem(key: str) -> str:
    # keys are free text (feature ids, "gpt2/L1:123"); file names must stay plain, so slug + short hash
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", key)[:40].strip("._") or "unit"
    return f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


class DirUnitStore:
    """A `UnitStore` backed by one directory of `<stem>.parquet` + `<stem>.json` pairs."""

    def __init__(self, root: Path, name: str) -> None:
        check_name(name, "unit store name")
        self.root = Path(root) / name
        self.root.mkdir(parents=True, exist_ok=True)
        self._index: dict[str, dict] | None = None

    def _scan(self) -> dict[str, dict]:
        if self._index is None:
            index: dict[str, dict] = {}
            for side in self.root.glob("*.json"):
                try:
                    info = json.loads(side.read_text(encoding="utf-8"))
                    data = side.with_suffix(".parquet")
                    if data.is_file() and sha256_file(data) == info["sha256"]:
                        index[info["key"]] = info
                except (OSError, ValueError, KeyError):
                    continue  # a damaged sidecar means the unit is not done; it is recomputed
            self._index = index
        return self._index

    def done(self, key: str) -> bool:
        """Whether unit `key` is stored and intact."""
        return key in self._scan()

    def keys(self) -> list[str]:
        """Stored unit keys, in the order they were saved."""
        return [k for k, _ in sorted(self._scan().items(), key=lambda kv: kv[1]["seq"])]

    def save(self, key: str, table: pl.DataFrame) -> None:
        """Store the finished unit `key` (parquet first, then the sidecar that marks it done)."""
        index = self._scan()
        stem = _file_stem(key)
        data = parquet_bytes(table)
        atomic_write_bytes(self.root / f"{stem}.parquet", data)
        seq = index[key]["seq"] if key in index else max((i["seq"] for i in index.values()), default=-1) + 1
        info = {"key": key, "seq": seq, "sha256": sha256_bytes(data), "rows": table.height}
        atomic_write_text(self.root / f"{stem}.json", json.dumps(info, sort_keys=True))
        index[key] = info

    def load(self, key: str) -> pl.DataFrame:
        """The stored table of unit `key` (KeyError if not done)."""
        import polars as pl

        if not self.done(key):
            raise KeyError(key)
        return pl.read_parquet(self.root / f"{_file_stem(key)}.parquet")

    def load_all(self) -> pl.DataFrame | None:
        """All stored units concatenated in save order, or None when there are none."""
        import polars as pl

        keys = self.keys()
        if not keys:
            return None
        return pl.concat([self.load(k) for k in keys], how="diagonal_relaxed")
