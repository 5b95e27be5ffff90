"""Report stage: reading and writing run-directory tables (parquet carrying its schema version and keys)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interf_dsl.errors import ReportError
from interf_dsl.execute.atomic import atomic_write_bytes

if TYPE_CHECKING:
    import polars as pl

META_PREFIX = "interf."


def table_bytes(df: pl.DataFrame, *, name: str, keys: list[str], schema_version: int) -> bytes:
    """Parquet bytes of `df` with `interf.table`, `interf.keys` and `interf.schema_version` in its metadata."""
    import io

    import pyarrow.parquet as pq

    arrow = df.to_arrow()
    meta = dict(arrow.schema.metadata or {})
    meta.update({f"{META_PREFIX}table".encode(): name.encode(),
                 f"{META_PREFIX}keys".encode(): json.dumps(keys).encode(),
                 f"{META_PREFIX}schema_version".encode(): str(schema_version).encode()})
    buf = io.BytesIO()
    pq.write_table(arrow.replace_schema_metadata(meta), buf, compression="zstd")
    return buf.getvalue()


def write_table(path: Path, df: pl.DataFrame, *, name: str, keys: list[str], schema_version: int) -> None:
    """Write one run-directory table atomically."""
    atomic_write_bytes(path, table_bytes(df, name=name, keys=keys, schema_version=schema_version))


@dataclass
class RunData:
    """A run directory read back: run.json and its tables (loaded on first access)."""

    path: Path
    run: dict[str, Any]
    _tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    _changed: set[str] = field(default_factory=set)
    """Tables replaced in memory (`set_table`, by a migration): they differ from their files and are kept."""

    @property
    def schema_version(self) -> int:
        return int(self.run.get("schema_version", 1))

    @property
    def table_names(self) -> list[str]:
        return sorted(p.stem for p in (self.path / "tables").glob("*.parquet"))

    def keys(self, name: str) -> list[str]:
        """The keys recorded for table `name` when it was written."""
        info = self.run.get("tables", {}).get(name, {})
        return list(info.get("keys", []))

    def table(self, name: str) -> pl.DataFrame:
        import polars as pl

        if name not in self._tables:
            path = self.path / "tables" / f"{name}.parquet"
            if not path.is_file():
                raise ReportError(f"run {self.path} has no table {name!r}", name=name, choices=self.table_names)
            self._tables[name] = pl.read_parquet(path)
        return self._tables[name]

    def head(self, name: str, n: int) -> pl.DataFrame:
        """The first `n` rows of a table, reading only what is needed from the parquet file."""
        import polars as pl

        if name in self._tables:
            return self._tables[name].head(n)
        return pl.scan_parquet(self.path / "tables" / f"{name}.parquet").head(n).collect()

    def height(self, name: str) -> int:
        """Row count of a table (from the parquet metadata)."""
        import polars as pl

        if name in self._tables:
            return self._tables[name].height
        return int(pl.scan_parquet(self.path / "tables" / f"{name}.parquet").select(pl.len()).collect().item())

    def columns(self, name: str) -> list[str]:
        """Column names of a table (from the parquet schema)."""
        import polars as pl

        if name in self._tables:
            return list(self._tables[name].columns)
        return list(pl.read_parquet_schema(self.path / "tables" / f"{name}.parquet"))

    def set_table(self, name: str, df: pl.DataFrame) -> None:
        self._tables[name] = df
        self._changed.add(name)

    def file(self, name: str) -> Path:
        """The parquet file of table `name`."""
        return self.path / "tables" / f"{name}.parquet"

    def as_stored(self, name: str) -> bool:
        """Whether table `name` is its file's content (no migration replaced it in memory)."""
        return name not in self._changed

    def lazy(self, name: str) -> pl.LazyFrame:
        """Table `name` as a lazy frame: scanned from its file, or the in-memory table a migration made."""
        import polars as pl

        return self._tables[name].lazy() if name in self._tables else pl.scan_parquet(self.file(name))

    def schema(self, name: str) -> dict[str, Any]:
        """Column name -> polars dtype of table `name` (from the parquet schema; nothing is read)."""
        return dict(self.lazy(name).collect_schema())

    def release(self) -> None:
        """Forget the tables loaded from files (they are read again on demand); migrated tables stay."""
        for name in [n for n in self._tables if n not in self._changed]:
            del self._tables[name]

    @property
    def figures(self) -> list[Path]:
        return sorted((self.path / "figures").glob("*.png"))


def read_run(path: Path | str) -> RunData:
    """Read a run directory (its run.json must exist).

    Raises:
        ReportError: `path` is not a run directory.
    """
    path = Path(path)
    run_json = path / "run.json"
    if not run_json.is_file():
        raise ReportError(f"{path} is not a run directory (no run.json)",
                          hint="pass reports/<experiment>/<run_id>, the last line `interf run` printed")
    try:
        run = json.loads(run_json.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ReportError(f"{run_json} is not valid JSON: {exc}") from None
    return RunData(path, run)
