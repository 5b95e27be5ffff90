"""Plan stage, printing: a `Plan` as a tree (steps under the step that consumes them first) or a table.

Input: `Plan`. Output: plain text (stable, so it can be golden-tested and piped).
"""

from __future__ import annotations

from interf_dsl.plan.ir import Plan, Step


def _work(step: Step) -> str:
    e = step.estimate
    parts = []
    if e.forward_passes:
        parts.append(f"{e.forward_passes:,} fwd")
    if e.gradient_passes:
        parts.append(f"{e.gradient_passes:,} grad")
    if e.api_requests:
        parts.append(f"{e.api_requests:,} req")
    if e.api_tokens:
        parts.append(f"{e.api_tokens:,} tok")
    if e.cost_usd is not None:
        parts.append(f"${e.cost_usd:,.2f}")
    return ", ".join(parts)


def totals(plan: Plan) -> dict[str, int]:
    keys = ("forward_passes", "gradient_passes", "api_requests", "api_tokens")
    return {k: sum(getattr(s.estimate, k) for s in plan.steps) for k in keys}


def _cost(plan: Plan) -> str:
    """", ≈ $X" over the priced API steps, saying how many calling steps have no price (local or unpriced models)."""
    calling = [s.estimate for s in plan.steps if s.estimate.api_requests]
    priced = [e.cost_usd for e in calling if e.cost_usd is not None]
    if not calling:
        return ""
    unpriced = len(calling) - len(priced)
    text = f", ≈ ${sum(priced):,.2f}" if priced else ", cost unknown"
    return text + (f" ({unpriced} calling steps unpriced)" if priced and unpriced else "")


def _header(plan: Plan, status: dict[str, str] | None = None) -> list[str]:
    t = totals(plan)
    lines = [f"plan {plan.experiment}: {len(plan.steps)} steps, preset {plan.preset}, seed {plan.seed}",
             f"estimate: {t['forward_passes']:,} forward passes, {t['gradient_passes']:,} gradient passes, "
             f"{t['api_requests']:,} API requests, {t['api_tokens']:,} API tokens{_cost(plan)}"]
    if status:
        counts = {k: sum(v == k for v in status.values()) for k in ("cached", "re-aggregate", "compute")}
        left = [s for s in plan.steps if status.get(s.id) == "compute"]
        lt = {k: sum(getattr(s.estimate, k) for s in left) for k in ("forward_passes", "api_requests")}
        lines.append(f"cache: {counts['cached']} cached, {counts['re-aggregate']} re-aggregated from kept raw units "
                     f"(no forward pass, no request), {counts['compute']} to compute "
                     f"(at most {lt['forward_passes']:,} forward passes, {lt['api_requests']:,} API requests)")
    return lines


def _mark(step: Step, status: dict[str, str] | None) -> str:
    return f"  ({status[step.id]})" if status and step.id in status else ""


def render_table(plan: Plan, status: dict[str, str] | None = None) -> str:
    """One row per step: id, kind, hash prefix, number of inputs, work (and, given `status`, what a run does)."""
    rows = [("step", "kind", "hash", "inputs", "work", "cache" if status else "")]
    rows += [(s.id, s.kind, s.hash[:10], str(len(s.inputs)), _work(s), (status or {}).get(s.id, ""))
             for s in plan.steps]
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    lines = _header(plan, status) + [""]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines) + "\n"


def render_tree(plan: Plan, status: dict[str, str] | None = None) -> str:
    """Steps as a tree from the sinks down: each step appears once, under the first step that consumes it
    (inputs are walked last-first, so the report opens with transfer and intervene chains). Given `status`
    (step id -> cached / re-aggregate / compute), each step says what a run would do with it."""
    by_id = {s.id: s for s in plan.steps}
    shown: set[str] = set()
    lines = _header(plan, status) + [""]

    def walk(step_id: str, prefix: str, last: bool, root: bool) -> None:
        s = by_id[step_id]
        shown.add(step_id)
        work = _work(s)
        branch = "" if root else ("└─ " if last else "├─ ")
        lines.append(f"{prefix}{branch}{s.id}  [{s.kind}]" + (f"  {work}" if work else "") + _mark(s, status))
        child_prefix = prefix + ("" if root else ("   " if last else "│  "))
        children = list(reversed(s.inputs))
        for k, c in enumerate(children):
            if c not in shown:
                walk(c, child_prefix, all(x in shown for x in children[k + 1:]), False)

    consumers = {i for s in plan.steps for i in s.inputs}
    for root in [s.id for s in plan.steps if s.id not in consumers]:
        walk(root, "", True, True)
    return "\n".join(lines) + "\n"
