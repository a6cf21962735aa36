"""OpenAI's wire format for generation: the JSON of a chat completion or a completion, and the Server-Sent
Events of a stream (`data: {chunk}` lines, then `data: [DONE]`), as OpenAI's API reference and the `openai`
client define them. services/inference/openai_schemas.py declares the same shapes for the OpenAPI page.

OpenAI's rules on the text: special tokens (the end-of-turn token) are not shown, and the answer ends
before the first stop sequence (TGI keeps it). A stream holds back text that could be the start of a stop
sequence until the next token tells, so a stream and a plain answer show the same text. Log-probabilities
are those the tokens were drawn from (after temperature and top-k/top-p), clamped at -9999 where a token
was ruled out (JSON has no -Infinity; vLLM clamps the same way).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from services.inference.errors import GenerationError, InferenceError, openai_error_body
from services.inference.generation import GenerationResult, TokenInfo
from services.inference.openai_requests import Plan
from services.inference.prompts import Conversation
from services.inference.runtime import TokenStream

LOGPROB_FLOOR = -9999.0
DONE = b"data: [DONE]\n\n"


@dataclass(frozen=True)
class Answer:
    """What every chunk or body of one answer shares."""

    id: str
    created: int
    model: str
    chat: bool

    @classmethod
    def new(cls, *, chat: bool, model: str) -> Answer:
        prefix = "chatcmpl" if chat else "cmpl"
        return cls(id=f"{prefix}-{uuid.uuid4().hex}", created=int(time.time()), model=model, chat=chat)

    @property
    def object(self) -> str:
        return "chat.completion" if self.chat else "text_completion"

    def envelope(self, choices: list[dict[str, Any]], *, chunk: bool = False) -> dict[str, Any]:
        kind = "chat.completion.chunk" if chunk and self.chat else self.object
        return {
            "id": self.id,
            "object": kind,
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }


def first_stop(text: str, stops: tuple[str, ...]) -> int | None:
    """Where the earliest stop sequence starts in `text` (None: there is none)."""
    found = [index for index in (text.find(stop) for stop in stops) if index >= 0]
    return min(found) if found else None


def visible_tokens(result: GenerationResult) -> list[TokenInfo]:
    return [token for token in result.tokens if not token.special]


def answer_text(result: GenerationResult, stops: tuple[str, ...]) -> tuple[str, str]:
    """The answer's text and OpenAI's finish_reason ("stop": end of turn or a stop sequence; "length")."""
    text = "".join(token.text for token in visible_tokens(result))
    cut = first_stop(text, stops)
    if cut is not None:
        return text[:cut], "stop"
    return text, "length" if result.finish_reason == "length" else "stop"


def usage(plan: Plan, results: list[GenerationResult]) -> dict[str, int]:
    """Prompt tokens count once per prompt (its templated tokens), completion tokens once per choice."""
    prompt_tokens = sum(results[index * plan.n].input_length for index in range(len(plan.prompts)))
    completion_tokens = sum(len(result.tokens) for result in results)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def _logprob(value: float | None) -> float:
    return LOGPROB_FLOOR if value is None else max(value, LOGPROB_FLOOR)


def _chat_logprob(token: TokenInfo) -> dict[str, Any]:
    def entry(candidate: TokenInfo) -> dict[str, Any]:
        return {
            "token": candidate.text,
            "logprob": _logprob(candidate.logprob),
            "bytes": list(candidate.text.encode()),
        }

    return {**entry(token), "top_logprobs": [entry(candidate) for candidate in token.top_tokens]}


def _kept(tokens: list[TokenInfo], length: int) -> list[TokenInfo]:
    """The tokens that start within the first `length` characters of their text (the answer's tokens)."""
    kept, offset = [], 0
    for token in tokens:
        if offset >= length and token.text:
            break
        kept.append(token)
        offset += len(token.text)
    return kept


def _completion_logprobs(tokens: list[TokenInfo], start: int) -> dict[str, Any]:
    offsets, offset = [], start
    for token in tokens:
        offsets.append(offset)
        offset += len(token.text)
    return {
        "tokens": [token.text for token in tokens],
        "token_logprobs": [_logprob(token.logprob) for token in tokens],
        "top_logprobs": [{c.text: _logprob(c.logprob) for c in token.top_tokens} for token in tokens],
        "text_offset": offsets,
    }


def chat_completion(answer: Answer, plan: Plan, results: list[GenerationResult]) -> dict[str, Any]:
    choices = []
    for index, result in enumerate(results):
        text, finish_reason = answer_text(result, plan.params.stop)
        logprobs = None
        if plan.logprobs is not None:
            content = [_chat_logprob(token) for token in _kept(visible_tokens(result), len(text))]
            logprobs = {"content": content, "refusal": None}
        choices.append(
            {
                "index": index,
                "message": {"role": "assistant", "content": text},
                "logprobs": logprobs,
                "finish_reason": finish_reason,
            }
        )
    return {**answer.envelope(choices), "usage": usage(plan, results)}


def completion(answer: Answer, plan: Plan, results: list[GenerationResult]) -> dict[str, Any]:
    choices = []
    for index, result in enumerate(results):
        text, finish_reason = answer_text(result, plan.params.stop)
        prefix = _echo(plan, index)
        logprobs = None
        if plan.logprobs is not None:
            logprobs = _completion_logprobs(_kept(visible_tokens(result), len(text)), len(prefix))
        choices.append(
            {"index": index, "text": prefix + text, "logprobs": logprobs, "finish_reason": finish_reason}
        )
    return {**answer.envelope(choices), "usage": usage(plan, results)}


def _echo(plan: Plan, index: int) -> str:
    prompt: str | Conversation = plan.prompts[index // plan.n]
    return prompt if plan.echo and isinstance(prompt, str) else ""


def sse(payload: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


@dataclass
class _Choice:
    """One choice of a stream: text held back while it may be the start of a stop sequence."""

    stops: tuple[str, ...]
    pending: str = ""
    # Characters shown so far (the text offsets of /v1/completions' logprobs).
    shown_chars: int = 0
    stopped: bool = False
    finished: bool = False
    result: GenerationResult | None = field(default=None, repr=False)

    def feed(self, piece: str) -> str:
        """The text that can be shown now."""
        if self.stopped:
            return ""
        self.pending += piece
        cut = first_stop(self.pending, self.stops)
        if cut is not None:
            self.stopped = True
            shown, self.pending = self.pending[:cut], ""
            return shown
        keep = max(
            (k for stop in self.stops for k in range(1, len(stop)) if self.pending.endswith(stop[:k])),
            default=0,
        )
        shown = self.pending[: len(self.pending) - keep]
        self.pending = self.pending[len(shown) :]
        return shown

    def flush(self) -> str:
        shown, self.pending = ("" if self.stopped else self.pending), ""
        return shown


async def stream_events(stream: TokenStream, plan: Plan, answer: Answer) -> AsyncIterator[bytes]:
    """The chunks of a streamed answer: per choice a first chunk (the role; the prompt with `echo`), its
    text as it comes, a last chunk with its finish_reason; then the usage chunk when asked for; then
    `[DONE]`. An error after the first chunk arrives as `data: {"error": {...}}` (the `openai` client
    raises it), then `[DONE]`."""
    extra = {"usage": None} if plan.include_usage else {}
    choices = [_Choice(plan.params.stop) for _ in stream.requests]

    def chunk(
        index: int, body: dict[str, Any], finish_reason: str | None = None, logprobs: Any = None
    ) -> bytes:
        choice = {"index": index, **body, "logprobs": logprobs, "finish_reason": finish_reason}
        return sse({**answer.envelope([choice], chunk=True), **extra})

    def text_body(text: str) -> dict[str, Any]:
        return {"delta": {"content": text}} if answer.chat else {"text": text}

    try:
        for index in range(len(choices)):
            if answer.chat:
                yield chunk(index, {"delta": {"role": "assistant", "content": ""}})
            elif _echo(plan, index):
                choices[index].shown_chars = len(_echo(plan, index))
                yield chunk(index, {"text": _echo(plan, index)})
        async for index, token, result in stream.tokens():
            choice = choices[index]
            shown = choice.feed("" if token.special else token.text)
            if result is not None:
                choice.result = result
                shown += choice.flush()
            logprobs = None
            if plan.logprobs is not None and not token.special and (shown or not choice.stopped):
                if answer.chat:
                    logprobs = {"content": [_chat_logprob(token)], "refusal": None}
                else:
                    logprobs = _completion_logprobs([token], choice.shown_chars)
            choice.shown_chars += len(shown)
            if shown or logprobs is not None:
                yield chunk(index, text_body(shown), logprobs=logprobs)
            if result is not None:
                finish_reason = "stop" if choice.stopped else answer_text(result, ())[1]
                yield chunk(index, {"delta": {}} if answer.chat else {"text": ""}, finish_reason)
        error = stream.error()
        if error is not None:
            failure = error if isinstance(error, InferenceError) else GenerationError(str(error))
            yield sse(openai_error_body(500, failure.openai_message, code=failure.code))
        elif plan.include_usage:
            results = [choice.result for choice in choices if choice.result is not None]
            yield sse({**answer.envelope([], chunk=True), "usage": usage(plan, results)})
        yield DONE
    finally:
        stream.close()  # stops the rows when the client went away
