"""The model-version and named-reward calls of CollectorClient (services/client/collector.py): register,
promote, prune, curves; list and create named rewards."""

from __future__ import annotations

from typing import Any

from services.client.transport import CollectorTransport
from services.collector.prune_schemas import ModelsPruned
from services.collector.reward_schemas import RewardPublic, RewardsPublic
from services.collector.schemas import ModelVersionPublic, ModelVersionsPublic
from services.core.enums import ModelKind, ScoreInput, ScoreTransform

API = "/api/v1"


class ModelCalls(CollectorTransport):
    """Model versions and named rewards, as typed calls."""

    def list_models(self, *, kind: ModelKind | None = None) -> list[ModelVersionPublic]:
        params = {"kind": kind.value} if kind is not None else {}
        return self._get(f"{API}/models", ModelVersionsPublic, params=params).data

    def get_model(self, version_id: int) -> ModelVersionPublic:
        return self._get(f"{API}/models/{version_id}", ModelVersionPublic)

    def promote(self, version_id: int) -> ModelVersionPublic:
        return self._post(f"{API}/models/{version_id}/promote", ModelVersionPublic)

    def register_model(
        self,
        source: str,
        *,
        label: str | int = 0,
        transform: ScoreTransform = ScoreTransform.LOGIT,
        reads: ScoreInput = ScoreInput.PROMPT_RESPONSE,
    ) -> ModelVersionPublic:
        """Register a classifier folder (or a cached hub id) on the collector's machine as a reward version."""
        body = {"kind": "reward", "source": source, "label": label, "transform": transform, "input": reads}
        return self._post(f"{API}/models", ModelVersionPublic, json=body)

    def register_policy(self, source: str, *, base_model: str | None = None) -> ModelVersionPublic:
        """Register a causal LM folder (or a hub id in the collector's Hugging Face cache), or a LoRA adapter
        folder with its base, on the collector's machine as a policy version."""
        body: dict[str, str] = {"kind": ModelKind.POLICY, "source": source}
        if base_model is not None:
            body["base_model"] = base_model
        return self._post(f"{API}/models", ModelVersionPublic, json=body)

    def unpromote(self, version_id: int) -> ModelVersionPublic:
        """Stop serving a version; with no promoted policy the inference service serves its default."""
        return self._post(f"{API}/models/{version_id}/unpromote", ModelVersionPublic)

    def delete_model(self, version_id: int) -> None:
        """Delete a version and its artifacts (refused, 409, while promoted or used by an unfinished job)."""
        self._request("DELETE", f"{API}/models/{version_id}")

    def prune_models(
        self, *, keep: int | None = None, kind: ModelKind | None = None, base_model: str | None = None
    ) -> ModelsPruned:
        """Delete the unpromoted versions past the `keep` newest of each kind and base model."""
        body = {"keep": keep, "kind": kind, "base_model": base_model}
        return self._post(f"{API}/models/prune", ModelsPruned, json=body)

    def list_rewards(self, *, name: str | None = None) -> RewardsPublic:
        """Every version of every named reward (or of `name`), newest first, and what serves by default."""
        params = {"name": name} if name is not None else {}
        return self._get(f"{API}/rewards", RewardsPublic, params=params)

    def create_reward(self, body: dict[str, Any]) -> RewardPublic:
        """A new version of a named reward: `body` as POST /api/v1/rewards takes it (docs/rewards.md)."""
        return self._post(f"{API}/rewards", RewardPublic, json=body)

    def curves_url(self, *, job_id: int | None = None, version_id: int | None = None) -> str:
        """Where the API serves training curves (PNG): a job's, or a model version's."""
        what = f"jobs/{job_id}" if job_id is not None else f"models/{version_id}"
        return f"{self.base_url}{API}/{what}/curves.png"

    def curves(self, *, job_id: int | None = None, version_id: int | None = None) -> bytes:
        """The training curves PNG of a job (its model version's) or of a model version."""
        url = self.curves_url(job_id=job_id, version_id=version_id).removeprefix(self.base_url)
        return self._request("GET", url).content
