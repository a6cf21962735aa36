"""Reward scores for (prompt, response) pairs: the raw scalar head of the reward model, no sigmoid.

Inputs go through `encode_reward_input` (the one rule shared with training): a pair longer than the
model's window loses the start of its prompt, then, only if the response alone is too long, the end of
its response. A pair's score does not depend on the pairs scored beside it: rows are right-padded with
an attention mask, the model is in eval mode (no dropout), and token type ids are left at their
default, as in training.
"""

from __future__ import annotations

import torch

from services.inference.loading import LoadedModel
from services.modeling.reward_inputs import encode_reward_input


def encode_pairs(reward: LoadedModel, pairs: list[tuple[str, str]]) -> list[list[int]]:
    assert reward.window is not None
    return [
        encode_reward_input(reward.tokenizer, prompt, response, max_length=reward.window)
        for prompt, response in pairs
    ]


def chunks_by_length(lengths: list[int], *, batch_size: int, max_tokens: int) -> list[list[int]]:
    """Indices grouped for forward passes: shortest first, at most `batch_size` rows and `max_tokens`
    padded tokens each (a row longer than `max_tokens` goes alone), so that little compute is padding."""
    chunks: list[list[int]] = []
    chunk: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        # Sorted by length: the newcomer is the longest, so it sets the padded width.
        if chunk and (len(chunk) == batch_size or (len(chunk) + 1) * lengths[index] > max_tokens):
            chunks.append(chunk)
            chunk = []
        chunk.append(index)
    if chunk:
        chunks.append(chunk)
    return chunks


def score_encoded(
    reward: LoadedModel, encoded: list[list[int]], *, batch_size: int, max_tokens: int
) -> list[float]:
    """Scores in the order given."""
    scores = [0.0] * len(encoded)
    with torch.inference_mode():
        for chunk in chunks_by_length(
            [len(ids) for ids in encoded], batch_size=batch_size, max_tokens=max_tokens
        ):
            width = max(len(encoded[i]) for i in chunk)
            input_ids = torch.full((len(chunk), width), reward.pad_token_id, dtype=torch.long)
            attention_mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                input_ids[row, : len(encoded[i])] = torch.tensor(encoded[i])
                attention_mask[row, : len(encoded[i])] = 1
            logits = reward.model(
                input_ids=input_ids.to(reward.device), attention_mask=attention_mask.to(reward.device)
            ).logits
            for i, value in zip(chunk, logits[:, 0].float().tolist(), strict=True):
                scores[i] = value
    return scores


def score_pairs(
    reward: LoadedModel, pairs: list[tuple[str, str]], *, batch_size: int, max_tokens: int
) -> list[float]:
    return score_encoded(reward, encode_pairs(reward, pairs), batch_size=batch_size, max_tokens=max_tokens)
