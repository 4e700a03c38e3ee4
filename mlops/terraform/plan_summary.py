"""What a saved plan will do, per resource, from ``terraform show -json <plan>``: printed, and
rendered as markdown for a PR comment."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ORDER = ("create", "update", "replace", "delete")
_LABEL = {"create": "add", "update": "change", "replace": "replace", "delete": "destroy"}


@dataclass(frozen=True)
class ResourceChange:
    address: str
    action: str  # create | update | replace | delete | read
    changed: tuple[str, ...] = ()  # top-level attributes whose value changes


@dataclass
class PlanSummary:
    stack: str
    changes: list[ResourceChange] = field(default_factory=list)
    output_changes: list[str] = field(default_factory=list)
    # planned only once these stacks are applied: it reads their outputs (remote state)
    deferred_after: tuple[str, ...] = ()

    def count(self, action: str) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes or self.output_changes or self.deferred_after)

    def deferred_text(self) -> str:
        after = ", ".join(self.deferred_after)
        return (f"{self.stack}: planned after {after} is applied (it reads {after}'s outputs, "
                f"which change)")

    def headline(self) -> str:
        counts = ", ".join(f"{self.count(a)} to {_LABEL[a]}" for a in ORDER)
        outputs = f"; {len(self.output_changes)} output(s) change" if self.output_changes else ""
        return f"{self.stack}: {counts}{outputs}"

    def lines(self) -> list[str]:
        if self.deferred_after:
            return [self.deferred_text()]
        if not self.has_changes:
            return [f"{self.stack}: no changes; the infrastructure matches the configuration"]
        out = [self.headline()]
        for change in self.changes:
            what = f" ({', '.join(change.changed)})" if change.changed else ""
            out.append(f"  {_LABEL.get(change.action, change.action):>7}  {change.address}{what}")
        out += [f"   output  {name}" for name in self.output_changes]
        return out


def _action(actions: list[str]) -> str | None:
    if actions in (["no-op"], []):
        return None
    if sorted(actions) == ["create", "delete"]:
        return "replace"
    return actions[0]


def _changed_keys(change: dict[str, Any]) -> tuple[str, ...]:
    """Attributes whose value changes, one level deep (triggers_replace.max_nodes)."""
    before, after = change.get("before") or {}, change.get("after") or {}
    unknown = change.get("after_unknown") or {}
    if not isinstance(before, dict) or not isinstance(after, dict) or not before:
        return ()
    found: list[str] = []
    for key in sorted(set(before) | set(after)):
        if key == "id" or unknown.get(key) is True or before.get(key) == after.get(key):
            continue
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            found += [f"{key}.{k}" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        else:
            found.append(key)
    return tuple(found)


def summarize(stack: str, plan: dict[str, Any]) -> PlanSummary:
    summary = PlanSummary(stack)
    for rc in plan.get("resource_changes", []):
        change = rc.get("change") or {}
        action = _action(change.get("actions", []))
        if action:
            summary.changes.append(ResourceChange(rc["address"], action, _changed_keys(change)))
    for name, oc in (plan.get("output_changes") or {}).items():
        if _action(oc.get("actions", [])):
            summary.output_changes.append(name)
    summary.changes.sort(key=lambda c: (ORDER.index(c.action) if c.action in ORDER else 9,
                                        c.address))
    return summary


def to_markdown(summaries: list[PlanSummary], target: str) -> str:
    lines = [f"### Terraform plan: `{target}`", ""]
    if not any(s.has_changes for s in summaries):
        lines.append("No changes: the infrastructure matches the configuration.")
        return "\n".join(lines) + "\n"
    lines += ["| stack | add | change | replace | destroy |", "|---|---:|---:|---:|---:|"]
    for s in summaries:
        if s.deferred_after:
            cells = f"planned after {', '.join(s.deferred_after)} is applied | | |"
        else:
            cells = " | ".join(str(s.count(a)) for a in ORDER)
        lines.append(f"| {s.stack} | {cells} |")
    lines += ["", "| action | resource | changed attributes |", "|---|---|---|"]
    for s in summaries:
        for c in s.changes:
            lines.append(f"| {_LABEL.get(c.action, c.action)} | `{c.address}` "
                         f"| {', '.join(c.changed)} |")
        for name in s.output_changes:
            lines.append(f"| output | `{name}` ({s.stack}) | |")
    return "\n".join(lines) + "\n"
