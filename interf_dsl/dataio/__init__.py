"""Import (beside the CLI, above the kinds): data made elsewhere -> interf's documented data formats.

Input: a file or folder in one of the common shapes docs/data-formats.md lists (token-type labels, type sentences,
token sets, Neuronpedia exports) and explicit tables for what has no single reading (`--map LABEL=TYPE`,
`--other TYPE|drop`, `--sae SOURCE/HOOK=SUBFOLDER`, ...). Output: the file interf reads (the readers `interf
validate` uses accept it: each importer reads its output back) and an `ImportResult` listing every change made.
`interf import token-types|sentences|sets|neuronpedia SRC --to FILE` calls these functions.

How to add a new source shape: read it in the importer's `_read`/`_entries` into the plain values the others give,
note the conversion in the result (`ImportResult.note`), add a made-up example with its quirks under
`tests/data/import/` and a case in `tests/unit/dataio/`, and a row in docs/data-formats.md.
"""

from __future__ import annotations

from interf_dsl.dataio.common import ImportResult
from interf_dsl.dataio.neuronpedia import import_neuronpedia
from interf_dsl.dataio.sentences import import_sentences
from interf_dsl.dataio.sets import import_sets
from interf_dsl.dataio.token_types import import_token_types

__all__ = ["ImportResult", "import_neuronpedia", "import_sentences", "import_sets", "import_token_types"]
