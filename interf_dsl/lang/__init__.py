"""The expression language below every stage and kind: the lark grammar facade (`expr.py`, the only module that
imports lark), its AST (`ast.py`), hook and feature selectors (`selectors.py`), and the pydantic field types and
base model that spec sections and focus parameters are written with (`fields.py`, `model.py`), and the bounds of every
value (`limits.py`).

Parse assembles specs from these; the registered foci declare their parameters with them. Nothing here imports a
stage or a kind.
"""
