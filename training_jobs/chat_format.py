"""Prompts and responses in the form each policy trainer takes, by services/modeling/chat.py's rule: a model
with a chat template gets conversations (a string prompt is one user message, a response one assistant
message; TRL's trainers then apply the template themselves), a model without one gets text: a
conversation as its `role: content` blocks with the assistant's turn opened (training_jobs/data.py).

The jobs that tokenize prompts themselves (ppo, generate_comparisons, the held-out evaluation) use
`encode_prompt`, the same token ids the inference service's chat route would give.
"""

from __future__ import annotations

from typing import Any

from services.modeling.chat import (
    ChatTemplateError,
    Conversation,
    Prompt,
    as_conversation,
    has_chat_template,
    prompt_ids,
    prompt_text,
)
from training_jobs.context import JobInputError
from training_jobs.data import prompt_text as plain_prompt


def trainer_prompt(tokenizer: Any, prompt: Prompt) -> Prompt:
    """The prompt as a TRL dataset holds it for this tokenizer (conversational for a chat model)."""
    if has_chat_template(tokenizer):
        return as_conversation(prompt)
    return plain_prompt(prompt)


def trainer_response(tokenizer: Any, text: str) -> str | Conversation:
    """A response (a completion, a chosen or rejected answer) beside `trainer_prompt`'s prompt."""
    if has_chat_template(tokenizer):
        return [{"role": "assistant", "content": text}]
    return text


def encode_prompt(tokenizer: Any, prompt: Prompt, *, budget: int) -> list[int]:
    """The policy's ids for a prompt (its chat template applied when it has one); a prompt longer than
    `budget` loses its start (the end, with the opened assistant turn, leads on)."""
    if not has_chat_template(tokenizer):
        prompt = plain_prompt(prompt)
    try:
        ids = prompt_ids(tokenizer, prompt, name="the policy")
    except ChatTemplateError as error:
        raise JobInputError(str(error)) from None
    return ids[-budget:] if len(ids) > budget else ids


def response_text(completion: str | Conversation) -> str:
    """A completion's text, whether a trainer gives it as text or as assistant messages."""
    if isinstance(completion, str):
        return completion
    return "".join(message["content"] for message in completion)


def describe(tokenizer: Any, prompt: Prompt) -> str:
    """A log line showing how the policy reads its prompts, with the first one as an example."""
    if not has_chat_template(tokenizer):
        return f"prompts are plain text (the policy has no chat template), e.g. {prompt_text(prompt)[:200]!r}"
    rendered = tokenizer.decode(encode_prompt(tokenizer, prompt, budget=10**9))
    return f"prompts go through the policy's chat template, e.g. {rendered[-400:]!r}"
