"""A named reward as the scorers see it: its components, their weights and frozen whitening statistics, and the
optional safety gate; `combine` turns each component's raw scores into the reward. One rule for the inference
service and the worker. The stored form (JSON) is written and checked by services/domain/rewards.py.

reward = Σ weight_k · z_k, where z_k is component k's score, whitened as (score − mean) / std when the
component carries `whiten` statistics. These are frozen when the reward version is created, so an input scores
the same alone or in any batch.

With a safety gate (Llama 2, Touvron et al. 2023, section 3.2.2), the safety and helpfulness components
contribute as one term: the safety component's weighted score where its z is below `threshold` or the input is
marked safety-relevant, the helpfulness component's elsewhere; the other components add to it as usual.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.core.enums import RewardFunction

# Keys of a stored component that are not a function's options.
COMPONENT_KEYS = frozenset({"model_version_id", "function", "weight", "whiten"})


@dataclass(frozen=True)
class Component:
    weight: float
    model_version_id: int | None = None
    function: RewardFunction | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    mean: float = 0.0
    std: float = 1.0

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any]) -> Component:
        whiten = stored.get("whiten") or {"mean": 0.0, "std": 1.0}
        function = stored.get("function")
        return cls(
            weight=float(stored["weight"]),
            model_version_id=stored.get("model_version_id"),
            function=RewardFunction(function) if function is not None else None,
            options={key: value for key, value in stored.items() if key not in COMPONENT_KEYS},
            mean=float(whiten["mean"]),
            std=float(whiten["std"]),
        )

    @property
    def label(self) -> str:
        return f"model_version {self.model_version_id}" if self.function is None else str(self.function)

    def whitened(self, score: float) -> float:
        return (score - self.mean) / self.std


@dataclass(frozen=True)
class SafetyGate:
    safety: int  # component indices
    helpfulness: int
    threshold: float


@dataclass(frozen=True)
class RewardSpec:
    """One version of a named reward."""

    name: str
    version: int
    components: tuple[Component, ...]
    safety_gate: SafetyGate | None = None

    @classmethod
    def from_stored(
        cls,
        name: str,
        version: int,
        components: Sequence[Mapping[str, Any]],
        safety_gate: Mapping[str, Any] | None,
    ) -> RewardSpec:
        gate = None
        if safety_gate is not None:
            gate = SafetyGate(
                int(safety_gate["safety"]), int(safety_gate["helpfulness"]), float(safety_gate["threshold"])
            )
        return cls(name, version, tuple(Component.from_stored(c) for c in components), gate)

    @property
    def label(self) -> str:
        """What scored an answer, as /reward names it."""
        return f"{self.name}@v{self.version}"

    @property
    def needs_reference(self) -> bool:
        return any(c.function is not None and c.function.needs_reference for c in self.components)

    def combine(self, raw: Sequence[Sequence[float]], safety_relevant: Sequence[bool]) -> list[float]:
        """Rewards from raw[k][i], component k's score of input i (see the module docstring)."""
        rewards = []
        for i, relevant in enumerate(safety_relevant):
            terms = [c.weight * c.whitened(raw[k][i]) for k, c in enumerate(self.components)]
            gate = self.safety_gate
            if gate is None:
                rewards.append(sum(terms))
                continue
            safety_z = self.components[gate.safety].whitened(raw[gate.safety][i])
            gated = terms[gate.safety] if relevant or safety_z < gate.threshold else terms[gate.helpfulness]
            rest = sum(t for k, t in enumerate(terms) if k not in (gate.safety, gate.helpfulness))
            rewards.append(gated + rest)
        return rewards
