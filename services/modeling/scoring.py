"""Scoring encoded reward inputs with a sequence classifier: the one forward pass behind reward-model
evaluation, PPO/RLOO rewards and POST /reward.

A pair's score does not depend on what is scored beside it: inputs are grouped by length, each group is
right-padded with an attention mask, and the model is in eval mode (no dropout); token type ids are left at
their default, as in training. The score is the raw first logit (Bradley-Terry reward, no sigmoid).
"""

from __future__ import annotations

from typing import Any


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
    batch_size: int,
    max_tokens: int | None = None,
) -> list[float]:
    """Raw scores of token-id inputs, in the order given; the model is used as it is (put it in eval mode)."""
    import torch

    device = next(model.parameters()).device
    scores = [0.0] * len(encoded)
    with torch.inference_mode():
        for chunk in chunks_by_length(
            [len(ids) for ids in encoded], batch_size=batch_size, max_tokens=max_tokens
        ):
            width = max(len(encoded[i]) for i in chunk)
            input_ids = torch.full((len(chunk), width), pad_token_id, dtype=torch.long)
            attention_mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                input_ids[row, : len(encoded[i])] = torch.tensor(encoded[i])
                attention_mask[row, : len(encoded[i])] = 1
            logits = model(input_ids=input_ids.to(device), attention_mask=attention_mask.to(device)).logits
            for i, value in zip(chunk, logits[:, 0].float().tolist(), strict=True):
                scores[i] = value
    return scores
