"""Reward scores for (prompt, response) pairs: the raw scalar head of the reward model, no sigmoid.

Inputs go through `encode_reward_input` (the one rule shared with training): a pair longer than the
model's window loses the start of its prompt, then, only if the response alone is too long, the end of
its response. The forward pass is services/modeling/scoring.py's, shared with training: a pair's score
does not depend on the pairs scored beside it.
"""

from __future__ import annotations

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
