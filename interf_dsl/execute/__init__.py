"""Execute stage: `Plan` -> run directory + `RunRecord` (content-addressed cache, per-unit resume, progress).

Public API: `execute_plan`, `RunRecord`, `StepRecord`, `StepCache`, `CacheWarning`. Runners register through
`interf_dsl.steps.step_runner`; see README.md.
"""

from interf_dsl.execute.cache import CacheWarning, StepCache
from interf_dsl.execute.record import RunRecord, StepRecord
from interf_dsl.execute.run import execute_plan

__all__ = ["CacheWarning", "RunRecord", "StepCache", "StepRecord", "execute_plan"]
