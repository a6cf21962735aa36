"""Scoring encoded reward inputs with a sequence classifier: the one forward pass behind reward-model
evaluation, PPO/RLOO rewards and POST /reward.

A pair's score does not depend on what is scored beside it: inputs are grouped by length, each group is
right-padded with an attention mask, and the model is in eval mode (no dropout); token type ids are left at
their default, as in training. The score is the raw first logit (Bradley-Terry reward, no sigmoid), or, for a
classifier registered with a `ScoreHead`, the logit, log-probability or probability of its chosen label.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from services.core.enums import ScoreInput, ScoreTransform

# Rows per forward pass in the worker's scoring (evaluation, PPO/RLOO rewards); the inference service sizes
# its own batches from its settings.
SCORE_BATCH_SIZE = 64


@dataclass(frozen=True)
class ScoreHead:
    """Which output of a sequence classifier is the reward, and what it reads. A version's `params.scoring`
    (set when a checkpoint is registered, services/domain/model_registration.py); absent: a Bradley-Terry
    reward model's single logit over the prompt and response."""

    label_index: int = 0
    transform: ScoreTransform = ScoreTransform.LOGIT
    input: ScoreInput = ScoreInput.PROMPT_RESPONSE

    @classmethod
    def from_version_params(cls, params: Mapping[str, Any]) -> ScoreHead:
        scoring = params.get("scoring") or {}
        return cls(
            label_index=int(scoring.get("label_index", 0)),
            transform=ScoreTransform(scoring.get("transform", ScoreTransform.LOGIT)),
            input=ScoreInput(scoring.get("input", ScoreInput.PROMPT_RESPONSE)),
        )


def head_scores(logits: Any, head: ScoreHead) -> list[float]:
    """One score per row of a (rows, labels) logits tensor."""
    import torch

    logits = logits.float()
    if head.transform == ScoreTransform.LOGPROB:
        logits = torch.log_softmax(logits, dim=-1)
    elif head.transform == ScoreTransform.PROB:
        logits = torch.softmax(logits, dim=-1)
    return [float(v) for v in logits[:, head.label_index].tolist()]


def chunks_by_length(
    lengths: list[int], *, batch_size: int, max_tokens: int | None = None
) -> list[list[int]]:
    """Indices grouped for forward passes: shortest first, at most `batch_size` rows and `max_tokens` padded
    tokens each (a row longer than `max_tokens` goes alone), so that little compute is padding."""
    chunks: list[list[int]] = []
    chunk: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        # Sorted by length: the newcomer is the longest, so it sets the padded width.
        full = len(chunk) == batch_size
        too_wide = max_tokens is not None and (len(chunk) + 1) * lengths[index] > max_tokens
        if chunk and (full or too_wide):
            chunks.append(chunk)
            chunk = []
        chunk.append(index)
    if chunk:
        chunks.append(chunk)
    return chunks


def score_encoded(
    model: Any,
    encoded: list[list[int]],
    *,
    pad_token_id: int,
    batch_size: int = SCORE_BATCH_SIZE,
    max_tokens: int | None = None,
    head: ScoreHead = ScoreHead(),
) -> list[float]:
    """Scores of token-id inputs, in the order given; the model is used as it is (put it in eval mode)."""
    scores = [0.0] * len(encoded)
    for chunk, logits in _forward(model, encoded, pad_token_id, batch_size, max_tokens):
        for i, value in zip(chunk, head_scores(logits, head), strict=True):
            scores[i] = value
    return scores


def logits_encoded(
    model: Any, encoded: list[list[int]], *, pad_token_id: int, batch_size: int = SCORE_BATCH_SIZE
) -> list[list[float]]:
    """Every label's logit of token-id inputs, in the order given (a classifier's predictions)."""
    rows: list[list[float]] = [[] for _ in encoded]
    for chunk, logits in _forward(model, encoded, pad_token_id, batch_size, None):
        for i, values in zip(chunk, logits.float().tolist(), strict=True):
            rows[i] = values
    return rows


def _forward(
    model: Any, encoded: list[list[int]], pad_token_id: int, batch_size: int, max_tokens: int | None
) -> Iterator[tuple[list[int], Any]]:
    """(indices, their logits) per forward pass, inputs grouped by length and right-padded with a mask."""
    import torch

    device = next(model.parameters()).device
    with torch.inference_mode():
        for chunk in chunks_by_length(
            [len(ids) for ids in encoded], batch_size=batch_size, max_tokens=max_tokens
        ):
            width = max(len(encoded[i]) for i in chunk)
            # Padded as lists and made one tensor each: no small tensor and slice assignment per row.
            input_ids = torch.tensor(
                [encoded[i] + [pad_token_id] * (width - len(encoded[i])) for i in chunk], dtype=torch.long
            )
            attention_mask = torch.tensor(
                [[1] * len(encoded[i]) + [0] * (width - len(encoded[i])) for i in chunk], dtype=torch.long
            )
            yield (
                chunk,
                model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits,
            )
