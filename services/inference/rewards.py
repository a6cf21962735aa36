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
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from services.core.db import session_scope
from services.core.enums import ModelKind
from services.core.orm import ModelVersion
from services.core.settings import Settings
from services.inference.errors import ModelUnavailableError, ScoringError, ValidationError
from services.inference.loading import LoadedModel, ModelRegistry, load_reward, version_target
from services.modeling.combined_reward import RewardSpec
from services.modeling.reward_functions import score_function
from services.modeling.reward_inputs import encode_inputs
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


@dataclass
class BatchTiming:
    """Where a batch's time went, for each of its requests' Server-Timing header: when the batch started, and
    the seconds spent tokenizing and in forward passes (shared by the batch's requests)."""

    started: float = field(default_factory=time.monotonic)
    tokenize: float = 0.0
    forward: float = 0.0


def encode_pairs(reward: LoadedModel, pairs: list[tuple[str, str]]) -> list[list[int]]:
    assert reward.window is not None
    return encode_inputs(reward.tokenizer, pairs, max_length=reward.window, reads=reward.target.head.input)


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


def score_requests(
    reward: LoadedModel,
    requests: list[list[tuple[str, str]]],
    *,
    batch_size: int,
    max_tokens: int,
    timing: BatchTiming | None = None,
) -> list[list[float] | Exception]:
    """One outcome per request of a micro-batch: its scores, or its own 422 when its pairs cannot be
    encoded (the others are scored all the same). Their pairs are tokenized together and share the forward
    passes."""
    timing = timing if timing is not None else BatchTiming()
    started = time.monotonic()
    encoded = _encode_requests(reward, requests)
    scored = time.monotonic()
    scores = score_encoded(
        reward.model,
        [ids for item in encoded if not isinstance(item, Exception) for ids in item],
        pad_token_id=reward.pad_token_id,
        batch_size=batch_size,
        max_tokens=max_tokens,
        head=reward.target.head,
    )
    timing.tokenize += scored - started
    timing.forward += time.monotonic() - scored
    outcomes: list[list[float] | Exception] = []
    offset = 0
    for item in encoded:
        if isinstance(item, Exception):
            outcomes.append(item)
        else:
            outcomes.append(scores[offset : offset + len(item)])
            offset += len(item)
    return outcomes


def _encode_requests(
    reward: LoadedModel, requests: list[list[tuple[str, str]]]
) -> list[list[list[int]] | Exception]:
    """Each request's token ids, every pair of the batch in one tokenizer call; if that call fails, request by
    request, so that only the request whose input the tokenizer refuses fails."""
    try:
        flat = encode_pairs(reward, [pair for pairs in requests for pair in pairs])
    except Exception:  # noqa: BLE001 - find the request it belongs to below
        encoded: list[list[list[int]] | Exception] = []
        for pairs in requests:
            try:
                encoded.append(encode_pairs(reward, pairs))
            except Exception as exc:  # noqa: BLE001 - this request's input, not the batch's
                encoded.append(ValidationError(f"{type(exc).__name__}: {exc}"))
        return encoded
    offsets = [0]
    for pairs in requests:
        offsets.append(offsets[-1] + len(pairs))
    return [flat[start:end] for start, end in zip(offsets, offsets[1:], strict=False)]


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
    """One outcome per request: (rewards, what scored them, the batch's timing), or the error that stopped
    it alone."""
    timing = BatchTiming()
    sizes: dict[str, Any] = {
        "batch_size": settings.reward_max_batch_size,
        "max_tokens": settings.reward_max_batch_tokens,
        "timing": timing,
    }
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
            scored = score_requests(reward, [_pairs(batch[n]) for n in promoted], **sizes)
            for number, outcome in zip(promoted, scored, strict=True):
                outcomes[number] = (
                    outcome if isinstance(outcome, Exception) else (outcome, reward.name, timing)
                )
    named = [number for number, request in enumerate(batch) if request.spec is not None]
    model_scores = _component_model_scores(models, batch, named, sizes)
    for number in named:
        request = batch[number]
        assert request.spec is not None
        try:
            raw = [
                _component_scores(request, number, k, model_scores)
                for k in range(len(request.spec.components))
            ]
            rewards = request.spec.combine(raw, [i.safety_relevant for i in request.inputs])
            outcomes[number] = (rewards, request.spec.label, timing)
        except Exception as exc:  # noqa: BLE001 - one request's failure (a model that cannot load) is its own
            known = isinstance(exc, ModelUnavailableError | ScoringError | ValidationError)
            outcomes[number] = exc if known else ScoringError(f"{type(exc).__name__}: {exc}")
    return outcomes


def _pairs(request: ScoreRequest) -> list[tuple[str, str]]:
    return [(i.prompt, i.response) for i in request.inputs]


# Per model version: per request number, its scores or its own error.
ModelScores = dict[int, dict[int, list[float] | Exception]]


def _component_model_scores(
    models: ComponentModels, batch: list[ScoreRequest], named: list[int], sizes: dict[str, Any]
) -> ModelScores:
    """Each model version's scores of the requests that use it; those requests share its forward passes."""
    users: dict[int, list[int]] = {}
    for number in named:
        spec = batch[number].spec
        assert spec is not None
        for version_id in dict.fromkeys(c.model_version_id for c in spec.components):
            if version_id is not None:
                users.setdefault(version_id, []).append(number)
    scored: ModelScores = {}
    for version_id, numbers in users.items():
        outcomes: list[list[float] | Exception]
        try:
            model = models.get(version_id)
            outcomes = score_requests(model, [_pairs(batch[n]) for n in numbers], **sizes)
        except ModelUnavailableError as exc:
            outcomes = [exc] * len(numbers)
        except Exception as exc:  # noqa: BLE001 - fails the requests that use this model, not the batch
            outcomes = [ScoringError(f"{type(exc).__name__}: {exc}")] * len(numbers)
        scored[version_id] = dict(zip(numbers, outcomes, strict=True))
    return scored


def _component_scores(request: ScoreRequest, number: int, k: int, model_scores: ModelScores) -> list[float]:
    assert request.spec is not None
    component = request.spec.components[k]
    if component.model_version_id is not None:
        scores = model_scores[component.model_version_id][number]
        if isinstance(scores, Exception):
            raise scores
        return scores
    assert component.function is not None
    return [
        score_function(component.function, component.options, i.response, i.reference) for i in request.inputs
    ]
