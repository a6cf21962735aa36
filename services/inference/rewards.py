"""Reward scores for (prompt, response) pairs: the raw scalar head of the reward model, no sigmoid.

Inputs go through `encode_reward_input` (the one rule shared with training): a pair longer than the
model's window loses the start of its prompt, then, only if the response alone is too long, the end of
its response. A pair's score does not depend on the pairs scored beside it: rows are right-padded with
an attention mask, the model is in eval mode (no dropout), and token type ids are left at their
default, as in training.
"""

from __future__ import annotations

import torch

from services.core.reward_inputs import encode_reward_input
from services.inference.loading import LoadedModel


def encode_pairs(reward: LoadedModel, pairs: list[tuple[str, str]]) -> list[list[int]]:
    assert reward.window is not None
    return [
        encode_reward_input(reward.tokenizer, prompt, response, max_length=reward.window)
        for prompt, response in pairs
    ]


def score_encoded(reward: LoadedModel, encoded: list[list[int]], *, batch_size: int) -> list[float]:
    """Scores in the order given; the forward passes take up to `batch_size` rows of similar length."""
    scores = [0.0] * len(encoded)
    # Sorting by length keeps padding (wasted compute) small.
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            width = max(len(encoded[i]) for i in chunk)
            input_ids = torch.full((len(chunk), width), reward.pad_token_id, dtype=torch.long)
            attention_mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                input_ids[row, : len(encoded[i])] = torch.tensor(encoded[i])
                attention_mask[row, : len(encoded[i])] = 1
            logits = reward.model(
                input_ids=input_ids.to(reward.device), attention_mask=attention_mask.to(reward.device)
            ).logits
            for row, value in zip(chunk, logits[:, 0].float().tolist(), strict=True):
                scores[row] = value
    return scores


def score_pairs(reward: LoadedModel, pairs: list[tuple[str, str]], *, batch_size: int) -> list[float]:
    return score_encoded(reward, encode_pairs(reward, pairs), batch_size=batch_size)
