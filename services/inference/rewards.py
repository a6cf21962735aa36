"""Reward scores for (prompt, response) pairs: the raw scalar head of the reward model, no sigmoid.

Inputs go through `encode_reward_input` (the one rule shared with training): a pair longer than the
model's window loses the start of its prompt, then, only if the response alone is too long, the end of
its response. The forward pass is services/modeling/scoring.py's, shared with training: a pair's score
does not depend on the pairs scored beside it.
"""

from __future__ import annotations

from services.inference.errors import ValidationError
from services.inference.loading import LoadedModel
from services.modeling.reward_inputs import encode_reward_input
from services.modeling.scoring import score_encoded


def encode_pairs(reward: LoadedModel, pairs: list[tuple[str, str]]) -> list[list[int]]:
    assert reward.window is not None
    return [
        encode_reward_input(reward.tokenizer, prompt, response, max_length=reward.window)
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
    )


def score_requests(
    reward: LoadedModel, requests: list[list[tuple[str, str]]], *, batch_size: int, max_tokens: int
) -> list[list[float] | Exception]:
    """One outcome per request of a micro-batch: its scores, or its own 422 when its pairs cannot be
    encoded (the others are scored all the same). Their pairs share the forward passes."""
    encoded: list[list[list[int]] | Exception] = []
    for pairs in requests:
        try:
            encoded.append(encode_pairs(reward, pairs))
        except Exception as exc:  # noqa: BLE001 - this request's input, not the batch's
            encoded.append(ValidationError(f"{type(exc).__name__}: {exc}"))
    scores = score_encoded(
        reward.model,
        [ids for item in encoded if not isinstance(item, Exception) for ids in item],
        pad_token_id=reward.pad_token_id,
        batch_size=batch_size,
        max_tokens=max_tokens,
    )
    outcomes: list[list[float] | Exception] = []
    offset = 0
    for item in encoded:
        if isinstance(item, Exception):
            outcomes.append(item)
        else:
            outcomes.append(scores[offset : offset + len(item)])
            offset += len(item)
    return outcomes
