"""Request and response bodies of the OpenAI-compatible routes (/v1/chat/completions, /v1/completions,
/v1/models), field for field as OpenAI's API reference and the `openai` Python client define them.

Unknown keys are ignored (as vLLM's server ignores them), so that tools sending parameters this service
has no use for (`user`, `metadata`, `store`, ...) keep working; parameters whose silent loss would change
the answer (`tools`, `response_format` with a schema, `logit_bias`, `suffix`, ...) are declared here so that
services/inference/openai_requests.py can refuse them with a 400 that names them. Fields that take one of
several shapes (`prompt`, `stop`, a message's `content`) are checked there too, with a message that says
which shapes, rather than pydantic's one error per shape. NaN, infinities and lone surrogates are refused
anywhere in a body (services/core/inputs.py), as OpenAI's JSON parser refuses them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.core.inputs import StrictInput

# OpenAI's seed is a signed 64-bit integer; this service also takes TGI's unsigned ones.
SEED_MIN = -(2**63)
SEED_MAX = 2**64 - 1


class StreamOptions(StrictInput):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool | None = None


class ChatMessage(StrictInput):
    """One message; its role and content are checked in openai_requests.conversation (clear messages)."""

    model_config = ConfigDict(extra="allow")

    role: str
    content: Any = Field(default=None, description="a string, or a list of text parts")
    name: str | None = None


class _SamplingRequest(StrictInput):
    model_config = ConfigDict(extra="ignore")

    model: str
    temperature: float | None = Field(default=None, description="0 to 2; 0 is greedy decoding")
    top_p: float | None = Field(default=None, description="nucleus sampling, in (0, 1]")
    top_k: int | None = Field(default=None, description="vLLM's extension: the k most likely tokens")
    max_tokens: int | None = None
    n: int | None = Field(default=None, description="choices to generate, 1 to 128")
    seed: int | None = Field(default=None, ge=SEED_MIN, le=SEED_MAX)
    stop: Any = Field(default=None, description="a string or up to 4 strings; the answer ends before them")
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    user: str | None = None


class ChatCompletionRequest(_SamplingRequest):
    messages: list[ChatMessage]
    max_completion_tokens: int | None = None
    logprobs: bool | None = False
    top_logprobs: int | None = None
    tools: list[Any] | None = None
    tool_choice: Any | None = None
    functions: list[Any] | None = None
    function_call: Any | None = None
    response_format: dict[str, Any] | None = None


class CompletionRequest(_SamplingRequest):
    prompt: Any = Field(description="a text, or a list of texts")
    echo: bool | None = False
    logprobs: int | None = None
    suffix: str | None = None
    best_of: int | None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


FinishReason = Literal["stop", "length"]


class AssistantMessage(BaseModel):
    role: Literal["assistant"]
    content: str


class ChatChoice(BaseModel):
    index: int
    message: AssistantMessage
    logprobs: dict[str, Any] | None
    finish_reason: FinishReason


class ChatCompletion(BaseModel):
    id: str = Field(description="chatcmpl-...")
    object: Literal["chat.completion"]
    created: int
    model: str = Field(description="the version that generated the answer")
    choices: list[ChatChoice]
    usage: Usage


class ChunkDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int
    delta: ChunkDelta
    logprobs: dict[str, Any] | None
    finish_reason: FinishReason | None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None


class CompletionChoice(BaseModel):
    index: int
    text: str
    logprobs: dict[str, Any] | None
    finish_reason: FinishReason | None


class Completion(BaseModel):
    id: str = Field(description="cmpl-...")
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str
    root: str = Field(description="the version the id stands for (`policy` is an alias)")
    max_model_len: int | None = Field(description="the model's window in tokens (vLLM's field)")


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelCard]


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorResponse(BaseModel):
    error: OpenAIErrorDetail


OPENAI_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": OpenAIErrorResponse, "description": "Invalid parameters (type `invalid_request_error`)"},
    404: {"model": OpenAIErrorResponse, "description": "This service does not serve that model"},
    429: {"model": OpenAIErrorResponse, "description": "Queue full (type `rate_limit_error`): retry later"},
    500: {"model": OpenAIErrorResponse, "description": "The model failed on this request"},
    503: {"model": OpenAIErrorResponse, "description": "No policy is loaded (or the one named is loading)"},
}
