"""Child process of the kill -9 test: run the transfer step into WORK_DIR against API_BASE, write its tables."""

import json
import sys
from pathlib import Path

from helpers import make_ctx

from interf_dsl.steps import get_runner

work, base = Path(sys.argv[1]), sys.argv[2]
ctx = make_ctx(work, {"name": "tiny", "model": "openai/tiny", "api_base": base, "top_k": 10, "concurrency": 8,
                      "backoff_s": 0.01, "timeout_s": 10}, trials=4)
res = get_runner("transfer")(ctx)
for name, table in res.tables.items():
    table.write_parquet(work / f"{name}.parquet")
(work / "meta.json").write_text(json.dumps(res.meta, default=str))
