"""How a (prompt, response) pair becomes a reward model's input — one rule for training, PPO/RLOO and /reward.

The prompt and the response are tokenized separately, without special tokens. When the pair does not fit
the model's window, the prompt is cut from the left (its start goes first), then, only if the response
alone is still too long, the response is cut from the right. The tokenizer's own pair template then adds
its special tokens: `[CLS] prompt [SEP] response [SEP]` for BERT-like models, plain concatenation for GPT-2.
"""

from __future__ import annotations

from typing import Any, Protocol

from services.core.enums import ScoreInput


class PairTokenizer(Protocol):
    """What this module needs of a Hugging Face fast tokenizer."""

    backend_tokenizer: Any

    def __call__(self, text: str, **kwargs: Any) -> Any: ...


def encode_reward_input(
    tokenizer: PairTokenizer, prompt: str, response: str, *, max_length: int
) -> list[int]:
    """Token ids for one pair, never longer than `max_length` (see the module docstring for the rule)."""
    # The wrapper call (not backend.encode) so that padding/truncation saved in tokenizer.json stay off.
    prompt_encoding = tokenizer(prompt, add_special_tokens=False).encodings[0]
    response_encoding = tokenizer(response, add_special_tokens=False).encodings[0]
    post_processor = tokenizer.backend_tokenizer.post_processor
    specials = post_processor.num_special_tokens_to_add(True) if post_processor is not None else 0
    budget = max_length - specials
    if budget <= 0:
        raise ValueError(f"max_length {max_length} leaves no room for text")
    if len(response_encoding.ids) > budget:
        response_encoding.truncate(budget, direction="right")
    prompt_budget = budget - len(response_encoding.ids)
    if len(prompt_encoding.ids) > prompt_budget:
        prompt_encoding.truncate(prompt_budget, direction="left")
    if post_processor is None:
        return list(prompt_encoding.ids) + list(response_encoding.ids)
    return list(post_processor.process(prompt_encoding, response_encoding, add_special_tokens=True).ids)


def encode_response_input(tokenizer: PairTokenizer, response: str, *, max_length: int) -> list[int]:
    """Token ids of the response alone, as a single sequence with the tokenizer's special tokens (what a
    classifier of text, such as a sentiment model, was trained on); its end is cut to fit `max_length`."""
    encoding = tokenizer(response, add_special_tokens=False).encodings[0]
    post_processor = tokenizer.backend_tokenizer.post_processor
    specials = post_processor.num_special_tokens_to_add(False) if post_processor is not None else 0
    if max_length - specials <= 0:
        raise ValueError(f"max_length {max_length} leaves no room for text")
    if len(encoding.ids) > max_length - specials:
        encoding.truncate(max_length - specials, direction="right")
    if post_processor is None:
        return list(encoding.ids)
    return list(post_processor.process(encoding, None, add_special_tokens=True).ids)


def encode_input(
    tokenizer: PairTokenizer, prompt: str, response: str, *, max_length: int, reads: ScoreInput
) -> list[int]:
    """A reward model's input for a pair, by what the model reads (ScoreHead.input)."""
    if reads == ScoreInput.RESPONSE:
        return encode_response_input(tokenizer, response, max_length=max_length)
    return encode_reward_input(tokenizer, prompt, response, max_length=max_length)
