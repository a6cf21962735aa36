"""OpenAI's request rules for /v1/chat/completions and /v1/completions, checked before anything is queued:
which model a request names, its messages, and its parameters as the generation's SamplingParams.

Every refusal is an InvalidRequestError (OpenAI's 400) that names the parameter at fault. The rules follow
OpenAI's API reference (temperature 0 to 2 and 0 meaning greedy, n up to 128, up to 4 stop sequences,
penalties -2 to 2); where the reference is silent they follow vLLM's OpenAI server.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Any

from services.core.enums import ModelKind
from services.inference.errors import InvalidRequestError, ModelNotFoundError, ModelUnavailableError
from services.inference.generation import GenerationRequest
from services.inference.loading import LoadedModel
from services.inference.openai_schemas import ChatCompletionRequest, ChatMessage, CompletionRequest
from services.inference.prompts import Conversation
from services.inference.runtime import Runtime
from services.inference.validation import (
    MAX_STOP_SEQUENCES,
    MAX_TOP_N_TOKENS,
    SamplingParams,
    check_text_size,
)

# `model` may name the serving policy's version, or this alias for whatever policy serves.
POLICY_ALIAS = "policy"
# OpenAI's bound on n; here it bounds the rows of one request (prompts × n), which share one batch.
MAX_CHOICES = 128
# Roles a chat template takes; "developer" is OpenAI's newer name for "system" and is passed as "system".
ROLES = ("system", "developer", "user", "assistant")
SEEDS = 2**64


@dataclass(frozen=True)
class Plan:
    """A validated request: its prompts, the parameters of choice 0 (choice i samples with seed + i, so
    choice 0 is what the same request with n=1 answers), and what the answer shows."""

    prompts: list[str | Conversation]
    n: int
    params: SamplingParams
    # Alternatives listed per token in `logprobs`; None: no logprobs.
    logprobs: int | None
    echo: bool
    stream: bool
    include_usage: bool

    def requests(self, required_model: str | None) -> list[GenerationRequest]:
        """One generation request per choice, prompt by prompt (OpenAI's choice order)."""
        return [
            GenerationRequest(
                prompt,
                dataclasses.replace(self.params, seed=(self.params.seed + choice) % SEEDS),
                required_model=required_model,
            )
            for prompt in self.prompts
            for choice in range(self.n)
        ]


def served_policy(runtime: Runtime, model: str) -> tuple[LoadedModel, str | None]:
    """The policy that answers a request naming `model`, and the version the request requires (None when it
    named the alias): 404 for a model this service does not serve, 503 while the one named is loading."""
    policy = runtime.serving(ModelKind.POLICY)
    if model == POLICY_ALIAS:
        return policy, None
    if model == policy.name:
        return policy, policy.name
    loading = runtime.registry.loading(ModelKind.POLICY)
    if loading is not None and loading.name == model:
        raise ModelUnavailableError(f"the model {model} is still loading; retry shortly")
    raise ModelNotFoundError(
        f"The model `{model}` does not exist or is not served here: this service serves `{policy.name}` "
        f"(also as `{POLICY_ALIAS}`); GET /v1/models lists them"
    )


def model_cards(runtime: Runtime) -> list[dict[str, Any]]:
    """/v1/models: the serving policy under its version name and under the alias (none while none loaded)."""
    policy = runtime.registry.serving(ModelKind.POLICY)
    if policy is None:
        return []
    created = int((policy.target.created_at or policy.loaded_at).timestamp())
    return [
        {
            "id": model_id,
            "object": "model",
            "created": created,
            "owned_by": "rlhf-platform",
            "root": policy.name,
            "max_model_len": policy.window,
        }
        for model_id in (policy.name, POLICY_ALIAS)
    ]


def conversation(messages: list[ChatMessage], *, max_text_bytes: int) -> Conversation:
    """The messages as a chat template takes them: [{"role", "content"}], text only."""
    if not messages:
        raise InvalidRequestError("`messages` must hold at least one message", param="messages")
    turns: Conversation = []
    for number, message in enumerate(messages):
        where = f"messages[{number}]"
        if message.role in ("tool", "function") or (message.model_extra or {}).get("tool_calls"):
            raise InvalidRequestError(
                f"{where}: tool calls and tool messages are not supported by this service", param=where
            )
        if message.role not in ROLES:
            raise InvalidRequestError(
                f"{where}.role: unknown role {message.role!r}; expected one of {', '.join(ROLES)}",
                param=f"{where}.role",
            )
        content = _text(message.content, where)
        check_text_size(content, f"{where}.content", max_text_bytes)
        turns.append({"role": "system" if message.role == "developer" else message.role, "content": content})
    return turns


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if content is None:
        raise InvalidRequestError(f"{where}.content is required", param=f"{where}.content")
    if not isinstance(content, list):
        raise InvalidRequestError(
            f"{where}.content must be a string or a list of text parts", param=f"{where}.content"
        )
    texts = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise InvalidRequestError(
                f"{where}.content: only text parts ({{'type': 'text', 'text': ...}}) are supported; "
                f"got {part.get('type') if isinstance(part, dict) else part!r}",
                param=f"{where}.content",
            )
        texts.append(part["text"])
    return "\n".join(texts)  # as vLLM joins text parts


def completion_prompts(prompt: Any, *, max_text_bytes: int) -> list[str | Conversation]:
    """/v1/completions' `prompt`: one text or a list of texts (token-id prompts are refused)."""
    if not isinstance(prompt, str | list):
        raise InvalidRequestError("`prompt` must be a string or a list of strings", param="prompt")
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    if not prompts:
        raise InvalidRequestError("`prompt` must hold at least one prompt", param="prompt")
    if not all(isinstance(text, str) for text in prompts):
        raise InvalidRequestError(
            "token-id prompts are not supported: send the prompt as text", param="prompt"
        )
    for number, text in enumerate(prompts):
        if text == "":
            raise InvalidRequestError(f"prompt[{number}] is empty", param="prompt")
        check_text_size(text, f"prompt[{number}]", max_text_bytes)
    return list(prompts)


def chat_plan(body: ChatCompletionRequest, *, max_new_tokens_cap: int, max_text_bytes: int) -> Plan:
    if body.tools or body.functions:
        raise InvalidRequestError("tools are not supported by this service", param="tools")
    if body.tool_choice not in (None, "none") or body.function_call not in (None, "none"):
        raise InvalidRequestError("tool_choice is not supported by this service", param="tool_choice")
    if body.response_format is not None and body.response_format.get("type") != "text":
        raise InvalidRequestError(
            "response_format: only {'type': 'text'} is supported (no JSON mode or schemas)",
            param="response_format",
        )
    logprobs = None
    if body.logprobs:
        logprobs = _bounded(body.top_logprobs, "top_logprobs", 0, MAX_TOP_N_TOKENS, default=0)
    elif body.top_logprobs is not None:
        raise InvalidRequestError("`top_logprobs` needs `logprobs: true`", param="top_logprobs")
    max_tokens, param = body.max_completion_tokens, "max_completion_tokens"
    if max_tokens is None:
        max_tokens, param = body.max_tokens, "max_tokens"
    prompts: list[str | Conversation] = [conversation(body.messages, max_text_bytes=max_text_bytes)]
    return _plan(body, prompts, (max_tokens, param), max_new_tokens_cap, logprobs=logprobs, echo=False)


def completion_plan(body: CompletionRequest, *, max_new_tokens_cap: int, max_text_bytes: int) -> Plan:
    if body.suffix:
        raise InvalidRequestError("`suffix` is not supported by this service", param="suffix")
    if body.best_of is not None and body.best_of != (body.n or 1):
        raise InvalidRequestError("`best_of` is not supported: leave it out or equal to n", param="best_of")
    logprobs = None
    if body.logprobs is not None:
        logprobs = _bounded(body.logprobs, "logprobs", 0, MAX_TOP_N_TOKENS, default=0)
        if body.echo:
            raise InvalidRequestError(
                "`echo` with `logprobs` (the prompt's log-probabilities) is not supported", param="echo"
            )
    prompts = completion_prompts(body.prompt, max_text_bytes=max_text_bytes)
    return _plan(
        body,
        prompts,
        (body.max_tokens, "max_tokens"),
        max_new_tokens_cap,
        logprobs=logprobs,
        echo=bool(body.echo),
    )


def _plan(
    body: ChatCompletionRequest | CompletionRequest,
    prompts: list[str | Conversation],
    max_tokens: tuple[int | None, str],
    max_new_tokens_cap: int,
    *,
    logprobs: int | None,
    echo: bool,
) -> Plan:
    n = _bounded(body.n, "n", 1, MAX_CHOICES, default=1)
    if len(prompts) * n > MAX_CHOICES:
        raise InvalidRequestError(
            f"a request may ask for at most {MAX_CHOICES} choices (prompts × n); given "
            f"{len(prompts)} × {n} = {len(prompts) * n}",
            param="n",
        )
    temperature = 1.0 if body.temperature is None else body.temperature
    if not 0.0 <= temperature <= 2.0:
        raise InvalidRequestError(
            f"`temperature` must be between 0 and 2. Given: {temperature}", param="temperature"
        )
    top_p = 1.0 if body.top_p is None else body.top_p
    if not 0.0 < top_p <= 1.0:
        raise InvalidRequestError(f"`top_p` must be > 0 and <= 1. Given: {top_p}", param="top_p")
    top_k = 0 if body.top_k in (None, -1) else body.top_k
    if top_k < 0:
        raise InvalidRequestError(f"`top_k` must be positive (or -1: off). Given: {top_k}", param="top_k")
    value, name = max_tokens
    if value is not None and not 1 <= value <= max_new_tokens_cap:
        raise InvalidRequestError(
            f"`{name}` must be between 1 and {max_new_tokens_cap}. Given: {value}", param=name
        )
    penalties = {}
    for field in ("frequency_penalty", "presence_penalty"):
        penalties[field] = 0.0 if getattr(body, field) is None else getattr(body, field)
        if not -2.0 <= penalties[field] <= 2.0:
            raise InvalidRequestError(
                f"`{field}` must be between -2 and 2. Given: {penalties[field]}", param=field
            )
    if body.logit_bias:
        raise InvalidRequestError("`logit_bias` is not supported by this service", param="logit_bias")
    stop = _stop(body.stop)
    if body.stream_options is not None and not body.stream:
        raise InvalidRequestError(
            "`stream_options` is only allowed with `stream: true`", param="stream_options"
        )
    greedy = temperature == 0.0  # OpenAI's meaning of 0 (TGI's routes refuse it)
    params = SamplingParams(
        max_new_tokens=value,
        temperature=1.0 if greedy else temperature,
        top_k=0 if greedy else top_k,
        top_p=1.0 if greedy else top_p,
        do_sample=not greedy,
        seed=random.getrandbits(64) if body.seed is None else body.seed % SEEDS,
        stop=stop,
        top_n_tokens=logprobs or 0,
        default_max_new_tokens=max_new_tokens_cap,
        count_penalty=penalties["frequency_penalty"],
        presence_penalty=penalties["presence_penalty"],
        stop_inside_tokens=True,
    )
    return Plan(
        prompts=prompts,
        n=n,
        params=params,
        logprobs=logprobs,
        echo=echo,
        stream=bool(body.stream),
        include_usage=bool(body.stream_options and body.stream_options.include_usage),
    )


def _bounded(value: int | None, name: str, low: int, high: int, *, default: int) -> int:
    if value is None:
        return default
    if not low <= value <= high:
        raise InvalidRequestError(f"`{name}` must be between {low} and {high}. Given: {value}", param=name)
    return value


def _stop(stop: Any) -> tuple[str, ...]:
    sequences = [stop] if isinstance(stop, str) else stop or []
    if not isinstance(sequences, list) or not all(isinstance(sequence, str) for sequence in sequences):
        raise InvalidRequestError("`stop` must be a string or a list of strings", param="stop")
    if len(sequences) > MAX_STOP_SEQUENCES:
        raise InvalidRequestError(
            f"`stop` takes up to {MAX_STOP_SEQUENCES} sequences. Given: {len(sequences)}", param="stop"
        )
    if any(sequence == "" for sequence in sequences):
        raise InvalidRequestError("`stop` sequences cannot be empty", param="stop")
    return tuple(sequences)
