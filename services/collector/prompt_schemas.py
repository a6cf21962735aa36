"""A prompt at the collector's HTTP boundary: a text, or a conversation of chat messages
(services/domain/prompts.py checks the rest: a conversation is not empty, each message within the limits)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from services.core.enums import MessageRole
from services.core.inputs import StrictInput


class ChatMessage(StrictInput):
    model_config = ConfigDict(extra="forbid")
    refuse_nul = True  # stored in PostgreSQL (services/core/inputs.py)

    role: MessageRole
    content: str


Prompt = str | list[ChatMessage]


def prompt_value(prompt: Prompt) -> str | list[dict[str, str]]:
    """A prompt as the domain takes it: the text, or the messages as plain dicts."""
    return prompt if isinstance(prompt, str) else [message.model_dump(mode="json") for message in prompt]


class MessagePublic(BaseModel):
    role: str
    content: str
