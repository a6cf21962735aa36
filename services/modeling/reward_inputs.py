"""How a (prompt, response) pair becomes a reward model's input — one rule for training, PPO/RLOO and /reward.

The prompt and the response are tokenized separately, without special tokens. When the pair does not fit
the model's window, the prompt is cut from the left (its start goes first), then, only if the response
alone is still too long, the response is cut from the right. The tokenizer's own pair template then adds
its special tokens: `[CLS] prompt [SEP] response [SEP]` for BERT-like models, plain concatenation for GPT-2.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from services.core.enums import ScoreInput


class PairTokenizer(Protocol):
    """What this module needs of a Hugging Face fast tokenizer."""

    backend_tokenizer: Any

    def __call__(self, text: str | list[str], **kwargs: Any) -> Any: ...


def encode_reward_input(
    tokenizer: PairTokenizer, prompt: str, response: str, *, max_length: int
) -> list[int]:
    """Token ids for one pair, never longer than `max_length` (see the module docstring for the rule)."""
    return encode_inputs(tokenizer, [(prompt, response)], max_length=max_length)[0]


def encode_response_input(tokenizer: PairTokenizer, response: str, *, max_length: int) -> list[int]:
    """Token ids of the response alone, as a single sequence with the tokenizer's special tokens (what a
    classifier of text, such as a sentiment model, was trained on); its end is cut to fit `max_length`."""
    return encode_inputs(tokenizer, [("", response)], max_length=max_length, reads=ScoreInput.RESPONSE)[0]


def encode_input(
    tokenizer: PairTokenizer, prompt: str, response: str, *, max_length: int, reads: ScoreInput
) -> list[int]:
    """A reward model's input for a pair, by what the model reads (ScoreHead.input)."""
    return encode_inputs(tokenizer, [(prompt, response)], max_length=max_length, reads=reads)[0]


def encode_inputs(
    tokenizer: PairTokenizer,
    pairs: Sequence[tuple[str, str]],
    *,
    max_length: int,
    reads: ScoreInput = ScoreInput.PROMPT_RESPONSE,
) -> list[list[int]]:
    """Every pair's input (`encode_input`'s rule), the texts tokenized in one call: the per-call cost of the
    tokenizer's Python wrapper is paid once per batch, not twice per pair."""
    if not pairs:
        return []
    post_processor = tokenizer.backend_tokenizer.post_processor
    is_pair = reads != ScoreInput.RESPONSE
    specials = post_processor.num_special_tokens_to_add(is_pair) if post_processor is not None else 0
    budget = max_length - specials
    if budget <= 0:
        raise ValueError(f"max_length {max_length} leaves no room for text")
    texts = [text for prompt, response in pairs for text in ((prompt, response) if is_pair else (response,))]
    # The wrapper call (not backend.encode_batch) so that padding/truncation saved in tokenizer.json stay off.
    encodings = tokenizer(texts, add_special_tokens=False).encodings
    if not is_pair:
        return [_single(encoding, budget, post_processor) for encoding in encodings]
    return [
        _pair(prompt, response, budget, post_processor)
        for prompt, response in zip(encodings[0::2], encodings[1::2], strict=True)
    ]


def _pair(prompt: Any, response: Any, budget: int, post_processor: Any) -> list[int]:
    """The prompt cut from the left, then the response from the right, until both fit; special tokens added."""
    if len(response.ids) > budget:
        response.truncate(budget, direction="right")
    prompt_budget = budget - len(response.ids)
    if len(prompt.ids) > prompt_budget:
        prompt.truncate(prompt_budget, direction="left")
    if post_processor is None:
        return list(prompt.ids) + list(response.ids)
    return list(post_processor.process(prompt, response, add_special_tokens=True).ids)


def _single(encoding: Any, budget: int, post_processor: Any) -> list[int]:
    if len(encoding.ids) > budget:
        encoding.truncate(budget, direction="right")
    if post_processor is None:
        return list(encoding.ids)
    return list(post_processor.process(encoding, None, add_special_tokens=True).ids)
