"""The base of every spec model (sections and focus parameters)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """Base of every spec model: frozen, unknown keys rejected, field docstrings kept for hints and the schema.

    Numbers are finite: NaN and ±inf are refused in every float field, nested ones included (no runner can use
    them, and NaN compares false against every bound).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True,
                              validate_default=True, allow_inf_nan=False)
