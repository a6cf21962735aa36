"""A prompt as a model's input: the one rule the training jobs and the inference service share.

A prompt is a string or a conversation (a list of `{"role", "content"}` messages, OpenAI's and TRL's
conversational form). A model whose tokenizer has a chat template gets every prompt through it, with the
assistant's turn opened: a string becomes one user message. A model without one takes a string as is and
cannot take a conversation. Control tokens written in message contents (an `<|im_end|>` typed by a user)
are encoded as plain text: only the template itself opens and closes turns.

The inference service's /generate and /v1/completions keep TGI's and OpenAI's contract (the text as is);
its /v1/chat/completions and every policy job go through `prompt_ids`.
"""

from __future__ import annotations

from typing import Any

Message = dict[str, str]
Conversation = list[Message]
Prompt = str | Conversation


class ChatTemplateError(ValueError):
    """The model cannot take this prompt: it has no chat template, or its template refused the messages."""


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def as_conversation(prompt: Prompt) -> Conversation:
    """A string as one user message; a conversation as it is."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [dict(message) for message in prompt]


def conversation_ids(tokenizer: Any, messages: Conversation, *, name: str = "the model") -> list[int]:
    """A conversation through the tokenizer's chat template, with the assistant's turn opened."""
    from jinja2 import TemplateError

    if not has_chat_template(tokenizer):
        raise ChatTemplateError(f"{name} has no chat template, so it cannot take a conversation")
    try:
        ids: list[int] = tokenizer.apply_chat_template(
            messages,
            add_generation_prompt=True,
            tokenize=True,
            return_dict=False,
            sanitize_control_tokens=True,
        )
    except TemplateError as error:
        # Templates refuse conversations they cannot render (e.g. roles that do not alternate).
        raise ChatTemplateError(f"the chat template of {name} refused the messages: {error}") from None
    return ids


def prompt_ids(tokenizer: Any, prompt: Prompt, *, name: str = "the model") -> list[int]:
    """The input ids a policy answers: through its chat template when it has one, else the text as is."""
    if has_chat_template(tokenizer):
        return conversation_ids(tokenizer, as_conversation(prompt), name=name)
    if isinstance(prompt, str):
        ids: list[int] = tokenizer(prompt)["input_ids"]
        return ids
    raise ChatTemplateError(f"{name} has no chat template, so it cannot take a conversation")


def prompt_text(prompt: Prompt) -> str:
    """A prompt as plain text, for reward models and logs: a string as is, a single user message as its
    content, a longer conversation as `role: content` lines."""
    if isinstance(prompt, str):
        return prompt
    if len(prompt) == 1 and prompt[0].get("role") == "user":
        return prompt[0]["content"]
    return "\n".join(f"{message['role']}: {message['content']}" for message in prompt)
