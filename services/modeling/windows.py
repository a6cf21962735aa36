"""How many tokens a model takes: one lookup for the policy, the reward model and the training jobs."""

from __future__ import annotations

from typing import Any

# Tokenizers without a real limit report a huge sentinel (1e30); fall back to the model's own window.
_UNBOUNDED = 1_000_000
# Config attributes that hold a model's window, by architecture (GPT-2's n_positions, most others' name).
_WINDOW_ATTRIBUTES = ("max_position_embeddings", "n_positions")


def model_window(config: Any) -> int | None:
    """The longest input a model takes, from its config; None when the config declares none."""
    for attribute in _WINDOW_ATTRIBUTES:
        value = getattr(config, attribute, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def window_size(tokenizer: Any, window: int | None = None) -> int:
    """The longest input for a tokenizer and a model: the tokenizer's limit, or the model's `window` when that
    is smaller or the tokenizer has none."""
    limit = tokenizer.model_max_length
    if window is not None and (limit is None or limit > _UNBOUNDED or limit > window):
        return window
    if limit is None or limit > _UNBOUNDED:
        raise ValueError("the tokenizer reports no maximum length; pass the model's window")
    return int(limit)
