"""Reward scores for (prompt, response) inputs: the promoted reward model's, or a named reward's.

A model's inputs go through services/modeling/reward_inputs.py (the one rule shared with training): a pair longer
than the model's window loses the start of its prompt, then, only if the response alone is too long, the end
of its response; a classifier that reads the response alone gets it as one sequence. The forward pass is
services/modeling/scoring.py's, shared with training: an input's score does not depend on those scored beside
it. Its score is the version's head (a Bradley-Terry model's raw logit, no sigmoid; a registered classifier's
label and transform). A named reward combines its components as services/modeling/combined_reward.py says.

One batch gathers the requests of a micro-batch window: requests for the promoted model share its forward
passes, and requests of named rewards share a forward pass per model version they use.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from services.core.db import session_scope
from services.core.enums import ModelKind
from services.core.orm import ModelVersion
from services.core.settings import Settings
from services.inference.errors import ModelUnavailableError, ScoringError
from services.inference.loading import LoadedModel, ModelRegistry, load_reward, version_target
from services.modeling.combined_reward import RewardSpec
from services.modeling.reward_functions import score_function
from services.modeling.reward_inputs import encode_input
from services.modeling.scoring import score_encoded

# Reward-model versions of named rewards kept loaded besides the promoted one; the least recently used goes.
MAX_COMPONENT_MODELS = 4


@dataclass(frozen=True)
class RewardInput:
    prompt: str
    response: str
    reference: str | None = None
    safety_relevant: bool = False


@dataclass(frozen=True)
class ScoreRequest:
    """One request's inputs and what scores them: a named reward's version, or None for the promoted model."""

    inputs: list[RewardInput]
    spec: RewardSpec | None = None


def encode_pairs(reward: LoadedModel, pairs: list[tuple[str, str]]) -> list[list[int]]:
    assert reward.window is not None
    return [
        encode_input(
            reward.tokenizer, prompt, response, max_length=reward.window, reads=reward.target.head.input
        )
        for prompt, response in pairs
    ]


def score_pairs(
    reward: LoadedModel, pairs: list[tuple[str, str]], *, batch_size: int, max_tokens: int
) -> list[float]:
    """Scores in the order given, in forward passes of at most `batch_size` rows and `max_tokens` tokens."""
    return score_encoded(
        reward.model,
        encode_pairs(reward, pairs),
        pad_token_id=reward.pad_token_id,
        batch_size=batch_size,
        max_tokens=max_tokens,
        head=reward.target.head,
    )


class ComponentModels:
    """The reward-model versions that named rewards use, loaded on first use on the scoring thread; the promoted
    version is the registry's own."""

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry
        self._loaded: OrderedDict[int, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, version_id: int) -> LoadedModel:
        serving = self.registry.serving(ModelKind.REWARD)
        if serving is not None and serving.target.version_id == version_id:
            return serving
        with self._lock:
            loaded = self._loaded.get(version_id)
            if loaded is None:
                with session_scope() as session:
                    version = session.get(ModelVersion, version_id)
                    if version is None:
                        raise ModelUnavailableError(f"model version {version_id} no longer exists")
                    target = version_target(version, "reward")
                try:
                    loaded = load_reward(target)
                except Exception as exc:  # noqa: BLE001 - reported to the request; the next one retries
                    raise ModelUnavailableError(
                        f"the reward model {target.name} failed to load: {type(exc).__name__}: {exc}"
                    ) from exc
                self._loaded[version_id] = loaded
                while len(self._loaded) > MAX_COMPONENT_MODELS:
                    self._loaded.popitem(last=False)
            self._loaded.move_to_end(version_id)
            return loaded


def no_reward_message(registry: ModelRegistry) -> str:
    loading = registry.loading(ModelKind.REWARD)
    if loading is not None:
        return f"the reward model {loading.name} is still loading; retry shortly"
    failure = registry.failure(ModelKind.REWARD)
    if failure is not None:
        return f"the reward model {failure.target.name} failed to load: {failure.error}"
    return (
        "no reward model is promoted yet: train one (`rlhf train reward_model --dataset NAME`) "
        "and promote it (`rlhf models promote ID`), or create a reward named default (POST /api/v1/rewards)"
    )


def score_batch(
    registry: ModelRegistry, models: ComponentModels, settings: Settings, batch: list[ScoreRequest]
) -> list[Any]:
    """One outcome per request: (rewards, what scored them), or the error that stopped it alone."""
    sizes = {"batch_size": settings.reward_max_batch_size, "max_tokens": settings.reward_max_batch_tokens}
    outcomes: list[Any] = [None] * len(batch)
    promoted = [number for number, request in enumerate(batch) if request.spec is None]
    if promoted:
        reward = registry.serving(
            ModelKind.REWARD
        )  # one reference for the whole batch: the version that answers
        if reward is None:
            for number in promoted:
                outcomes[number] = ModelUnavailableError(no_reward_message(registry))
        else:
            scores = score_pairs(
                reward, [(i.prompt, i.response) for n in promoted for i in batch[n].inputs], **sizes
            )
            offset = 0
            for number in promoted:
                size = len(batch[number].inputs)
                outcomes[number] = (scores[offset : offset + size], reward.name)
                offset += size
    named = [number for number, request in enumerate(batch) if request.spec is not None]
    model_scores = _component_model_scores(models, [batch[n] for n in named], sizes)
    for number in named:
        request = batch[number]
        assert request.spec is not None
        try:
            raw = [_component_scores(request, k, model_scores) for k in range(len(request.spec.components))]
            rewards = request.spec.combine(raw, [i.safety_relevant for i in request.inputs])
            outcomes[number] = (rewards, request.spec.label)
        except Exception as exc:  # noqa: BLE001 - one request's failure (a model that cannot load) is its own
            outcomes[number] = (
                exc if isinstance(exc, ModelUnavailableError | ScoringError) else ScoringError(str(exc))
            )
    return outcomes


def _component_model_scores(
    models: ComponentModels, requests: list[ScoreRequest], sizes: dict[str, int]
) -> dict[int, dict[tuple[str, str], float] | Exception]:
    """Each model version's scores of every distinct (prompt, response) the requests need of it."""
    needed: dict[int, dict[tuple[str, str], None]] = {}
    for request in requests:
        assert request.spec is not None
        for component in request.spec.components:
            if component.model_version_id is not None:
                pairs = needed.setdefault(component.model_version_id, {})
                pairs.update(dict.fromkeys((i.prompt, i.response) for i in request.inputs))
    scored: dict[int, dict[tuple[str, str], float] | Exception] = {}
    for version_id, pairs in needed.items():
        try:
            model = models.get(version_id)
            scores = score_pairs(model, list(pairs), **sizes)
            scored[version_id] = dict(zip(pairs, scores, strict=True))
        except ModelUnavailableError as exc:
            scored[version_id] = exc
        except Exception as exc:  # noqa: BLE001 - fails the requests that use this model, not the batch
            scored[version_id] = ScoringError(f"{type(exc).__name__}: {exc}")
    return scored


def _component_scores(
    request: ScoreRequest, k: int, model_scores: dict[int, dict[tuple[str, str], float] | Exception]
) -> list[float]:
    assert request.spec is not None
    component = request.spec.components[k]
    if component.model_version_id is not None:
        scores = model_scores[component.model_version_id]
        if isinstance(scores, Exception):
            raise scores
        return [scores[(i.prompt, i.response)] for i in request.inputs]
    assert component.function is not None
    return [
        score_function(component.function, component.options, i.response, i.reference) for i in request.inputs
    ]
