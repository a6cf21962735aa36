"""text-generation-inference's wire format: the JSON of a /generate answer and the Server-Sent Events of a
stream (router/src/lib.rs: GenerateResponse, Details, StreamResponse). The shapes are TGI's, field for field,
so that its clients work unchanged; services/inference/schemas.py declares them for the OpenAPI page."""

from __future__ import annotations

import json
from typing import Any

from services.inference.errors import GenerationError, InferenceError
from services.inference.generation import GenerationResult, TokenInfo
from services.inference.schemas import GenerateRequest
from services.inference.validation import SamplingParams


def token_json(token: TokenInfo) -> dict[str, Any]:
    return {"id": token.id, "text": token.text, "logprob": token.logprob, "special": token.special}


def output_text(body: GenerateRequest, result: GenerationResult) -> str:
    return body.inputs + result.generated_text if body.parameters.return_full_text else result.generated_text


def generate_json(body: GenerateRequest, params: SamplingParams, result: GenerationResult) -> dict[str, Any]:
    """A GenerateResponse: the text, and the details when asked for."""
    answer: dict[str, Any] = {"generated_text": output_text(body, result)}
    if body.parameters.details or params.decoder_input_details:
        answer["details"] = _details(params, result)
    return answer


def best_of_sequence_json(
    body: GenerateRequest, params: SamplingParams, result: GenerationResult
) -> dict[str, Any]:
    """A BestOfSequence: one of the sequences a best_of request did not return (its text and details)."""
    return {"generated_text": output_text(body, result), **_details(params, result)}


def _details(params: SamplingParams, result: GenerationResult) -> dict[str, Any]:
    details: dict[str, Any] = {
        "finish_reason": result.finish_reason,
        "generated_tokens": len(result.tokens),
        "seed": result.seed,
        "prefill": [{"id": t.id, "text": t.text, "logprob": t.logprob} for t in result.prefill],
        "tokens": [token_json(token) for token in result.tokens],
    }
    if params.top_n_tokens:
        details["top_tokens"] = [[token_json(t) for t in token.top_tokens] for token in result.tokens]
    return details


def stream_event(
    body: GenerateRequest,
    params: SamplingParams,
    index: int,
    token: TokenInfo,
    result: GenerationResult | None,
) -> dict[str, Any]:
    """A StreamResponse for the `index`-th token (from 1); `generated_text` and `details` on the last."""
    event: dict[str, Any] = {"index": index, "token": token_json(token)}
    if params.top_n_tokens:
        event["top_tokens"] = [token_json(t) for t in token.top_tokens]
    event["generated_text"] = output_text(body, result) if result is not None else None
    event["details"] = None
    if result is not None and body.parameters.details:
        event["details"] = {
            "finish_reason": result.finish_reason,
            "generated_tokens": len(result.tokens),
            "seed": result.seed,
            "input_length": result.input_length,
        }
    return event


def error_event(error: BaseException) -> dict[str, Any]:
    """Once a stream has started, an error is an event (TGI's InferError → Event)."""
    failure = error if isinstance(error, InferenceError) else GenerationError(str(error))
    return {"error": failure.message, "error_type": failure.error_type}


def sse(payload: dict[str, Any]) -> bytes:
    return f"data:{json.dumps(payload, separators=(',', ':'))}\n\n".encode()
