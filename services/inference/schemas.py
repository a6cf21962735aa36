"""Request and response bodies of the inference service.

`/generate`, `/generate_stream` and `/` follow text-generation-inference (TGI) field for field
(router/src/lib.rs: GenerateRequest, GenerateParameters, GenerateResponse, Details, StreamResponse,
ErrorResponse), so that TGI clients (`huggingface_hub.InferenceClient`, `text_generation`) work unchanged.
Every parameter is optional and accepts null, as TGI's serde defaults do; unknown keys are ignored, as
serde ignores them. `/reward` is this project's own.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.core.inputs import StrictInput
from services.domain import rewards

MAX_REWARD_PAIRS = 256
# Which version computed an answer (also in the /reward body); TGI's bodies have no field for it.
MODEL_HEADER = "x-model-version"

FinishReason = Literal["length", "eos_token", "stop_sequence"]


class GenerateParameters(StrictInput):
    # NaN, infinities and lone surrogates are refused (StrictInput), as TGI's serde refuses them.
    model_config = ConfigDict(extra="ignore")

    best_of: int | None = None
    temperature: float | None = None
    repetition_penalty: float | None = None
    frequency_penalty: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    typical_p: float | None = None
    do_sample: bool | None = False
    max_new_tokens: int | None = None
    return_full_text: bool | None = None
    stop: list[str] | None = None
    truncate: int | None = None
    watermark: bool | None = False
    details: bool | None = False
    decoder_input_details: bool | None = False
    seed: int | None = Field(default=None, ge=0, le=2**64 - 1)
    top_n_tokens: int | None = None
    # Accepted so that a request using them gets TGI's own refusal ("grammar is not supported").
    grammar: Any | None = None
    adapter_id: str | None = None


class GenerateRequest(StrictInput):
    model_config = ConfigDict(extra="ignore")

    inputs: str
    parameters: GenerateParameters = Field(default_factory=GenerateParameters)


class CompatGenerateRequest(GenerateRequest):
    """TGI's `POST /`: the body of /generate plus `stream` (what `InferenceClient.text_generation` sends)."""

    stream: bool = False


class Token(BaseModel):
    id: int
    text: str
    logprob: float | None
    special: bool


class PrefillToken(BaseModel):
    id: int
    text: str
    logprob: float | None


class BestOfSequence(BaseModel):
    generated_text: str
    finish_reason: FinishReason
    generated_tokens: int
    seed: int | None
    prefill: list[PrefillToken]
    tokens: list[Token]
    top_tokens: list[list[Token]] | None = None
    score: float = Field(description="its score under the best_of criterion (not in TGI)")


class BestOfCriterion(BaseModel):
    """How a best_of request's sequence was chosen (not in TGI, which always uses mean_logprob)."""

    name: Literal["mean_logprob", "reward"]
    reward: str | None = Field(default=None, description="what scored the sequences (the default reward)")
    score: float = Field(description="the returned sequence's score")


class Details(BaseModel):
    finish_reason: FinishReason
    generated_tokens: int
    seed: int | None
    prefill: list[PrefillToken]
    tokens: list[Token]
    top_tokens: list[list[Token]] | None = None
    best_of_sequences: list[BestOfSequence] | None = None
    best_of_criterion: BestOfCriterion | None = None


class GenerateResponse(BaseModel):
    generated_text: str
    details: Details | None = None


class StreamDetails(BaseModel):
    finish_reason: FinishReason
    generated_tokens: int
    seed: int | None
    input_length: int


class StreamResponse(BaseModel):
    index: int
    token: Token
    top_tokens: list[Token] | None = None
    generated_text: str | None
    details: StreamDetails | None


class ErrorResponse(BaseModel):
    """TGI's error body; `detail` repeats `error` for this project's `{"detail": ...}` convention."""

    error: str
    error_type: str
    detail: str


class RewardPair(StrictInput):
    prompt: str
    response: str
    reference: str | None = Field(default=None, description="what ROUGE and BLEU rewards compare against")
    safety_relevant: bool = Field(
        default=False, description="a safety-gated reward scores this input with its safety component"
    )


class RewardRequest(StrictInput):
    inputs: list[RewardPair] = Field(min_length=1, max_length=MAX_REWARD_PAIRS)
    reward: str | None = Field(
        default=None,
        max_length=rewards.NAME_MAX_LENGTH,
        pattern=rewards.NAME_PATTERN,
        description="a named reward (POST /api/v1/rewards); none: the reward named default",
    )


class RewardResponse(BaseModel):
    rewards: list[float]
    model: str
