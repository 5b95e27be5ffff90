"""The tiny zoo: offline source models, SAEs and a transfer target that interf trains itself (issue 3).

Public surface (light, no torch): the catalog (`ZOO_MODELS`, `zoo_card`, `model_info`, `sae_info`, `list_saes`,
held-out text and token types) and the reusable token-type labeller `label_token_types`. Loading goes through
`interf_dsl.backends.loading`; building through `interf zoo build` (`build.py`). See README.md (the card).
"""

from interf_dsl.zoo.catalog import (
    TOKEN_TYPES,
    ZOO_MODELS,
    artifacts_dir,
    heldout_text_path,
    list_saes,
    model_info,
    read_heldout,
    read_token_types,
    sae_info,
    token_types_path,
    zoo_card,
)
from interf_dsl.zoo.token_types import label_token_types

__all__ = [
    "TOKEN_TYPES",
    "ZOO_MODELS",
    "artifacts_dir",
    "heldout_text_path",
    "label_token_types",
    "list_saes",
    "model_info",
    "read_heldout",
    "read_token_types",
    "sae_info",
    "token_types_path",
    "zoo_card",
]
