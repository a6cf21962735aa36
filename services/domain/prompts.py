"""Prompts: a text or a conversation (a list of `{"role","content"}` messages), checked and stored once.

A conversation is stored with its messages and a plain-text rendering (`role: content` blocks) for places
that show text only; its content key starts with a NUL, which no text prompt can hold (check_text refuses
NUL), so a text and a conversation never share a key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, TypeAlias

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from services.core.enums import MessageRole
from services.core.errors import InvalidInputError
from services.core.orm import Prompt
from services.domain.limits import check_text

Message: TypeAlias = dict[str, str]
PromptValue: TypeAlias = str | list[Message]


def check_messages(value: Any, field: str) -> list[Message]:
    """A conversation as stored: a non-empty list of {"role", "content"} objects, roles MessageRole's."""
    if not isinstance(value, list) or not value:
        raise InvalidInputError(f"{field} must be a non-empty list of messages")
    messages = []
    for index, message in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(message, dict) or set(message) != {"role", "content"}:
            raise InvalidInputError(f'{where} must be an object with exactly "role" and "content"')
        role, content = message["role"], message["content"]
        if role not in list(MessageRole):
            raise InvalidInputError(f"{where}.role must be one of {', '.join(MessageRole)}, got {role!r}")
        if not isinstance(content, str):
            raise InvalidInputError(f"{where}.content must be a string")
        check_text(f"{where}.content", content)
        messages.append({"role": role, "content": content})
    return messages


def check_prompt(value: Any, field: str = "prompt") -> PromptValue:
    """A prompt as stored: a string, or a conversation (check_messages)."""
    if isinstance(value, str):
        check_text(field, value)
        return value
    if isinstance(value, list):
        messages = check_messages(value, field)
        check_text(field, render(messages))  # the whole conversation within the size limit too
        return messages
    raise InvalidInputError(f"{field} must be a string or a list of messages")


def render(messages: Sequence[Message]) -> str:
    """A conversation as plain text, one `role: content` block per message."""
    return "\n\n".join(f"{message['role']}: {message['content']}" for message in messages)


def content_key(prompt: PromptValue) -> str:
    """The sha256 that identifies a prompt's content (the prompt table's unique key)."""
    if isinstance(prompt, str):
        key = prompt
    else:
        key = "\x00messages\x00" + json.dumps(prompt, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def prompt_ids(session: Session, prompts: Sequence[PromptValue]) -> list[int]:
    """The id of each prompt, in the order given, inserting the new ones (without committing).

    ON CONFLICT DO NOTHING makes concurrent inserts of one prompt safe; keys go in sorted order so that two
    transactions inserting overlapping sets take the unique-index locks in the same order.
    """
    keys = [content_key(prompt) for prompt in prompts]
    by_key = dict(zip(keys, prompts, strict=True))
    ordered = sorted(by_key)
    session.execute(
        pg_insert(Prompt).on_conflict_do_nothing(index_elements=[Prompt.text_sha256]),
        [_row(key, by_key[key]) for key in ordered],
    )
    rows = session.execute(select(Prompt.text_sha256, Prompt.id).where(Prompt.text_sha256.in_(ordered)))
    ids_by_key = dict(rows.tuples().all())
    return [ids_by_key[key] for key in keys]


def _row(key: str, prompt: PromptValue) -> dict[str, Any]:
    if isinstance(prompt, str):
        return {"text": prompt, "messages": None, "text_sha256": key}
    return {"text": render(prompt), "messages": prompt, "text_sha256": key}


def stored(text: str, messages: list[Message] | None) -> PromptValue:
    """A prompt as read back from its row: the conversation when it is one, else the text."""
    return text if messages is None else messages
