"""/health, /info, /metrics, the 429 of a full queue, and a TGI client (huggingface_hub) used unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import InferenceClient
from huggingface_hub.errors import ValidationError as HubValidationError

from tests.helpers.servers import start_inference

TGI_INFO_KEYS = {
    "model_id",
    "model_sha",
    "model_dtype",
    "model_device_type",
    "model_pipeline_tag",
    "max_concurrent_requests",
    "max_best_of",
    "max_stop_sequences",
    "max_input_tokens",
    "max_total_tokens",
    "max_client_batch_size",
    "router",
    "version",
    "sha",
    "docker_label",
}


def test_health_answers_ok(inference: httpx.Client) -> None:
    assert inference.get("/health").json() == {"status": "ok", "instance": None}


def test_info_has_tgi_fields_and_loaded_versions(inference: httpx.Client) -> None:
    info = inference.get("/info").json()

    assert TGI_INFO_KEYS <= set(info)
    assert info["model_id"] == info["policy"]["name"]
    assert info["max_total_tokens"] == 128 and info["max_input_tokens"] == 127
    assert info["policy"]["architecture"] == "GPT2LMHeadModel"
    assert {"name", "version_id", "source", "path", "window", "loaded_at"} <= set(info["policy"])
    assert "reward" in info and set(info["loading"]) == {"policy", "reward"}
    assert set(info["batching"]) == {"reward", "generate", "max_queue_size"}


def test_metrics_show_requests_batch_sizes_and_queue_depth(inference: httpx.Client) -> None:
    inference.post("/generate", json={"inputs": "The morning", "parameters": {"max_new_tokens": 2}})

    text = inference.get("/metrics").text

    assert (
        'rlhf_http_requests_total{method="POST",route="/generate",service="inference",status="200"}' in text
    )
    assert 'rlhf_http_request_duration_seconds_bucket{le="0.001",method="POST",route="/generate"' in text
    assert 'rlhf_inference_batch_size_bucket{le="1.0",queue="generate"}' in text
    assert 'rlhf_inference_queue_depth{queue="reward"}' in text
    assert 'rlhf_inference_queue_depth{queue="generate"}' in text


@pytest.fixture(scope="module")
def small_queue_url(inference_env: dict[str, str], state_dir: Path) -> Iterator[str]:
    env = {**inference_env, "RLHF_MAX_QUEUE_SIZE": "2", "RLHF_GENERATE_MAX_BATCH_SIZE": "1"}
    server, url = start_inference(env, state_dir / "inference-small-queue.log")
    try:
        yield url
    finally:
        server.stop()


def test_full_queue_answers_429_overloaded(small_queue_url: str) -> None:
    body = {"inputs": "The morning", "parameters": {"max_new_tokens": 100}}

    async def flood() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=small_queue_url, timeout=120) as client:
            return await asyncio.gather(*(client.post("/generate", json=body) for _ in range(12)))

    responses = asyncio.run(flood())

    codes = [response.status_code for response in responses]
    assert set(codes) == {200, 429}
    refused = next(response for response in responses if response.status_code == 429)
    assert refused.json()["error_type"] == "overloaded"
    assert refused.json()["error"].startswith("Model is overloaded")
    assert 'rlhf_inference_rejected_total{queue="generate"}' in httpx.get(small_queue_url + "/metrics").text


def test_full_queue_answers_429_in_openai_shape_on_v1(small_queue_url: str) -> None:
    body = {"model": "policy", "prompt": "The morning", "max_tokens": 100}

    async def flood() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=small_queue_url, timeout=120) as client:
            return await asyncio.gather(*(client.post("/v1/completions", json=body) for _ in range(12)))

    responses = asyncio.run(flood())

    assert {response.status_code for response in responses} == {200, 429}
    refused = next(response for response in responses if response.status_code == 429)
    error = refused.json()["error"]
    assert error["type"] == "rate_limit_error" and error["message"].startswith("Model is overloaded")


def test_huggingface_hub_inference_client_works_unchanged(inference_url: str) -> None:
    client = InferenceClient(model=inference_url, timeout=60)

    text = client.text_generation("The morning", max_new_tokens=5)
    detailed = client.text_generation("The morning", max_new_tokens=5, details=True)
    streamed = list(client.text_generation("The morning", max_new_tokens=5, stream=True))
    sampled = client.text_generation("She opened", max_new_tokens=5, do_sample=True, seed=7, details=True)

    assert detailed.generated_text == text == "".join(streamed)
    assert detailed.details is not None and detailed.details.generated_tokens == len(detailed.details.tokens)
    assert sampled.details is not None and sampled.details.seed == 7
    with pytest.raises(HubValidationError, match="`temperature` must be strictly positive"):
        client.text_generation("The morning", max_new_tokens=5, temperature=-1.0)
