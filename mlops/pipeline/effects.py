"""Effects a step leaves outside its outputs, and how the runner checks they still hold.

A component declares one with the tag ``factory.effect: <kind>``. When such a step completes,
the runner records a witness of the effect (what the outside world looked like right after the
step) in its step.json; before reusing the step it observes the world again and reuses only
when both agree. Anything else (the store recreated, the alias moved, a version deleted) reruns
the step, and the runner says why.
"""

from __future__ import annotations

from typing import Any, Protocol

from mlops.pipeline.tracking import registry_state


class Effect(Protocol):
    def observe(self, values: dict[str, Any], run_id: str) -> dict[str, Any]:
        """The witness of the effect of the step that ran as ``run_id`` with input ``values``."""
        ...

    def differs(self, recorded: dict[str, Any], now: dict[str, Any]) -> str | None:
        """Why the effect no longer holds (None: it does)."""
        ...


class RegistryEffect:
    """``factory.effect: registry``: the step registers versions of the model named by its
    ``model_name`` input and moves its aliases (the register step's gate decision is only true
    against the champion it compared with). It still holds when every version the step's run
    created exists and every alias of the model points at the same version of the same run."""

    MODEL_INPUT = "model_name"

    def __init__(self, registry_uri: str):
        self.registry_uri = registry_uri

    def observe(self, values: dict[str, Any], run_id: str) -> dict[str, Any]:
        model = values.get(self.MODEL_INPUT)
        if not model:
            return {"readable": False, "why": f"the step has no {self.MODEL_INPUT!r} input"}
        return registry_state(self.registry_uri, str(model), run_id)

    def differs(self, recorded: dict[str, Any], now: dict[str, Any]) -> str | None:
        if not recorded.get("readable") or not now.get("readable"):
            why = recorded.get("why") or now.get("why") or "the registry could not be read"
            return f"its registry effect cannot be verified ({why})"
        model = recorded.get("model")
        gone = sorted(set(recorded.get("created", [])) - set(now.get("created", [])))
        if gone:
            return (f"the registry no longer has {model} version(s) {', '.join(gone)} that it "
                    f"registered")
        before, after = recorded.get("aliases", {}), now.get("aliases", {})
        for alias in sorted(set(before) | set(after)):
            was, is_ = before.get(alias), after.get(alias)
            if was != is_:
                return (f"alias {alias!r} of {model} was {_version(was)} when it decided and is "
                        f"{_version(is_)} now")
        return None


def _version(entry: list | None) -> str:
    return "unset" if entry is None else f"v{entry[0]} (run {str(entry[1])[:12]})"


# effect kind (the tag's value) -> how to check it; the loader refuses any other kind
EFFECTS: dict[str, type] = {"registry": RegistryEffect}


def effect_for(kind: str, registry_uri: str) -> Effect:
    return EFFECTS[kind](registry_uri)
