"""Report stage: cache of merged, conformed run-directory tables, so a rerun links (or copies) bytes instead of
re-merging.

A run-directory table is a pure function of its producers (step id and the sha256 of the table each stored in the
step cache), the table schema version and the table's declaration in `schema.py`. Its parquet bytes and info
(keys, rows, columns) are stored under `<cache>/tables/<key>.parquet` + `<key>.json` (sha256 of the bytes inside).
A run hard-links the stored file into its run directory (`links.py`); a rerun whose producers are all unchanged
does so without reading a single step result; a damaged entry is warned about (`CacheWarning`) and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

from interf_dsl.execute.atomic import atomic_write_bytes, atomic_write_text, sha256_file
from interf_dsl.execute.cache import CacheWarning
from interf_dsl.report.schema import SCHEMA_VERSION, TABLES

MERGE_FORMAT = 1


def table_key(name: str, producers: list[tuple[str, str]]) -> str:
    """Cache key of a merged table from its name, producers (step id, table sha256), schema version and declaration."""
    decl = repr(TABLES.get(name))
    payload = json.dumps([name, producers, SCHEMA_VERSION, MERGE_FORMAT, decl], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


class TableCache:
    """Merged tables by key, in one folder of the step cache."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def get(self, key: str) -> tuple[Path, dict[str, Any]] | None:
        """(parquet path, info) of a verified entry, or None (a damaged entry is warned about and removed)."""
        data, side = self.root / f"{key}.parquet", self.root / f"{key}.json"
        if not side.exists():
            return None
        try:
            info = json.loads(side.read_text(encoding="utf-8"))
            ok = data.is_file() and data.stat().st_size == info["bytes"] and sha256_file(data) == info["sha256"]
        except (OSError, ValueError, KeyError):
            ok, info = False, {}
        if ok:
            return data, info["info"]
        warnings.warn(f"merged-table cache entry {side} is damaged; rebuilding the table", CacheWarning,
                      stacklevel=2)
        for p in (side, data):
            p.unlink(missing_ok=True)
        return None

    def put(self, key: str, data: bytes, info: dict[str, Any]) -> Path:
        """Store a merged table (parquet first, then the sidecar that makes it visible); returns its parquet path."""
        path = self.root / f"{key}.parquet"
        atomic_write_bytes(path, data)
        side = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "info": info}
        atomic_write_text(self.root / f"{key}.json", json.dumps(side, sort_keys=True))
        return path
