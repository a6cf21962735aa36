"""A request's input as token ids: a text through the tokenizer, or a conversation (OpenAI's messages)
through the model's chat template (services/modeling/chat.py, the rule the training jobs use too); then the
window rules (TGI's router/src/validation.rs), which need the token count. Run with the tokenizer of the
model that will generate: by the routes with the one serving now (so that a bad request is refused before
it is queued), and again on the batcher's thread with the one its batch uses (a promotion may land in
between).
"""

from __future__ import annotations

from services.inference.errors import ContextLengthError, InvalidRequestError, ValidationError
from services.inference.loading import LoadedModel
from services.inference.validation import SamplingParams
from services.modeling.chat import ChatTemplateError, Conversation, conversation_ids, has_chat_template

__all__ = ["Conversation", "chat_input_ids", "prepare_input"]


def chat_input_ids(policy: LoadedModel, messages: Conversation) -> list[int]:
    """The conversation through the model's own chat template, with the assistant's turn opened."""
    if not has_chat_template(policy.tokenizer):
        raise InvalidRequestError(
            f"the model {policy.name} has no chat template, so it cannot take `messages`: "
            "send a text prompt to /v1/completions (or /generate) instead",
            param="messages",
        )
    try:
        return conversation_ids(policy.tokenizer, messages, name=policy.name)
    except ChatTemplateError as error:
        raise InvalidRequestError(str(error), param="messages") from None


def prepare_input(
    policy: LoadedModel, inputs: str | Conversation, params: SamplingParams
) -> tuple[list[int], int]:
    """Input ids (after `truncate`) and the resolved max_new_tokens, or a 4xx for the window rules."""
    if isinstance(inputs, str):
        input_ids: list[int] = policy.tokenizer(inputs)["input_ids"]
    else:
        input_ids = chat_input_ids(policy, inputs)
    window = policy.window
    if params.truncate is not None:
        if window is not None and params.truncate >= window:
            raise ValidationError(
                f"`truncate` must be strictly positive and less than {window}. Given: {params.truncate}"
            )
        input_ids = input_ids[-params.truncate :]
    if not input_ids:
        raise ValidationError("`inputs` cannot be empty")
    input_length = len(input_ids)
    if window is not None and input_length >= window:
        raise ContextLengthError(window=window, input_length=input_length, max_new_tokens=None)
    max_new_tokens = params.max_new_tokens
    if max_new_tokens is None:
        max_new_tokens = params.default_max_new_tokens
        if window is not None:
            max_new_tokens = min(max_new_tokens, window - input_length)
    if window is not None and input_length + max_new_tokens > window:
        raise ContextLengthError(window=window, input_length=input_length, max_new_tokens=max_new_tokens)
    return input_ids, max_new_tokens
