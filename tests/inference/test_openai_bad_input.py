"""Bad input on the OpenAI routes: a 400 in OpenAI's error shape with a clear message that names the
parameter, before anything is queued; requests batched beside a bad one answer as if it were not there."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.inference.test_generate import metric_total

MESSAGES = [{"role": "user", "content": "Is the lake cold?"}]
CHAT = {"model": "policy", "messages": MESSAGES, "max_tokens": 4}
COMPLETION = {"model": "policy", "prompt": "The morning", "max_tokens": 4}
LONG = "The morning was cold and clear. " * 40  # far more than the tiny model's 128 tokens

CHAT_INVALID = [
    pytest.param({"messages": []}, "messages", "at least one message", id="empty-messages"),
    pytest.param(
        {"messages": [{"role": "robot", "content": "hi"}]},
        "messages[0].role",
        "unknown role 'robot'",
        id="role",
    ),
    pytest.param(
        {"messages": [{"role": "tool", "content": "42", "tool_call_id": "a"}]},
        "messages[0]",
        "tool messages are not supported",
        id="tool-role",
    ),
    pytest.param({"messages": [{"role": "user"}]}, "messages[0].content", "is required", id="no-content"),
    pytest.param(
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]},
        "messages[0].content",
        "only text parts",
        id="image-part",
    ),
    pytest.param({"messages": "hello"}, "messages", "valid list", id="messages-not-a-list"),
    pytest.param({"messages": [{"content": "hi"}]}, "messages.0.role", "Field required", id="no-role"),
    pytest.param({"model": None}, "model", "valid string", id="model-null"),
    pytest.param({"n": 0}, "n", "`n` must be between 1 and 128", id="n-0"),
    pytest.param({"n": 129}, "n", "`n` must be between 1 and 128", id="n-129"),
    pytest.param({"temperature": -0.5}, "temperature", "between 0 and 2", id="temperature-negative"),
    pytest.param({"temperature": 2.5}, "temperature", "between 0 and 2", id="temperature-2.5"),
    pytest.param({"top_p": 0}, "top_p", "`top_p` must be > 0", id="top_p-0"),
    pytest.param({"top_p": 1.5}, "top_p", "`top_p` must be > 0", id="top_p-1.5"),
    pytest.param({"top_k": -3}, "top_k", "`top_k` must be positive", id="top_k-negative"),
    pytest.param({"max_tokens": 0}, "max_tokens", "between 1 and 1024", id="max_tokens-0"),
    pytest.param({"max_tokens": 1025}, "max_tokens", "between 1 and 1024", id="max_tokens-cap"),
    pytest.param({"max_completion_tokens": 0}, "max_completion_tokens", "between 1", id="mct-0"),
    pytest.param({"frequency_penalty": 3}, "frequency_penalty", "between -2 and 2", id="frequency-3"),
    pytest.param({"presence_penalty": -2.5}, "presence_penalty", "between -2 and 2", id="presence"),
    pytest.param({"stop": list("abcde")}, "stop", "up to 4 sequences", id="stop-5"),
    pytest.param({"stop": ""}, "stop", "cannot be empty", id="stop-empty"),
    pytest.param({"stop": 5}, "stop", "must be a string or a list of strings", id="stop-number"),
    pytest.param(
        {"messages": [{"role": "user", "content": 5}]},
        "messages[0].content",
        "string or a list",
        id="content-int",
    ),
    pytest.param({"seed": 2**64}, "seed", "less than or equal", id="seed-too-big"),
    pytest.param({"seed": "abc"}, "seed", "valid integer", id="seed-type"),
    pytest.param(
        {"tools": [{"type": "function", "function": {"name": "f"}}]}, "tools", "not supported", id="tools"
    ),
    pytest.param({"tool_choice": "required"}, "tool_choice", "not supported", id="tool_choice"),
    pytest.param({"response_format": {"type": "json_object"}}, "response_format", "only", id="json-mode"),
    pytest.param({"logit_bias": {"50256": -100}}, "logit_bias", "not supported", id="logit_bias"),
    pytest.param({"top_logprobs": 2}, "top_logprobs", "needs `logprobs: true`", id="top_logprobs-alone"),
    pytest.param(
        {"logprobs": True, "top_logprobs": 6}, "top_logprobs", "between 0 and 5", id="top_logprobs-6"
    ),
    pytest.param(
        {"stream": False, "stream_options": {"include_usage": True}},
        "stream_options",
        "stream: true",
        id="options",
    ),
    pytest.param(
        {"messages": [{"role": "user", "content": LONG}]},
        None,
        "maximum context length is 128 tokens",
        id="prompt-too-long",
    ),
    pytest.param(
        {"messages": [{"role": "user", "content": "The morning was cold. " * 8}], "max_tokens": 100},
        None,
        "Please reduce the length of the prompt or of max_tokens",
        id="prompt-and-max-tokens-too-long",
    ),
]

COMPLETION_INVALID = [
    pytest.param({"prompt": ""}, "prompt", "prompt[0] is empty", id="empty-prompt"),
    pytest.param({"prompt": []}, "prompt", "at least one prompt", id="empty-list"),
    pytest.param({"prompt": [1, 2, 3]}, "prompt", "token-id prompts are not supported", id="token-ids"),
    pytest.param({"prompt": None}, "prompt", "must be a string or a list of strings", id="prompt-null"),
    pytest.param(
        {"prompt": {"text": "a"}}, "prompt", "must be a string or a list of strings", id="prompt-dict"
    ),
    pytest.param({"suffix": "end"}, "suffix", "not supported", id="suffix"),
    pytest.param({"best_of": 3}, "best_of", "not supported", id="best_of"),
    pytest.param({"logprobs": 6}, "logprobs", "between 0 and 5", id="logprobs-6"),
    pytest.param({"logprobs": 2, "echo": True}, "echo", "not supported", id="echo-logprobs"),
    pytest.param({"n": 65, "prompt": ["a", "b"]}, "n", "at most 128 choices (prompts × n)", id="rows"),
    pytest.param({"temperature": 3}, "temperature", "between 0 and 2", id="temperature"),
    pytest.param({"prompt": LONG}, None, "maximum context length is 128 tokens", id="prompt-too-long"),
]


def assert_openai_error(response: httpx.Response, status: int, param: str | None, message: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert message in error["message"]
    if param is not None:
        assert error["param"] == param


def units_queued(client: httpx.Client) -> float:
    return metric_total(client, "rlhf_inference_batch_size_sum", "generate")


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("change", "param", "message"), CHAT_INVALID)
def test_invalid_chat_request_answers_400_and_queues_nothing(
    chat_inference: httpx.Client, change: dict[str, Any], param: str | None, message: str, stream: bool
) -> None:
    before = units_queued(chat_inference)
    body = {**CHAT, "stream": stream, **change}

    response = chat_inference.post("/v1/chat/completions", json=body)

    assert_openai_error(response, 400, param, message)
    assert units_queued(chat_inference) == before


@pytest.mark.parametrize(("change", "param", "message"), COMPLETION_INVALID)
def test_invalid_completion_request_answers_400_and_queues_nothing(
    chat_inference: httpx.Client, change: dict[str, Any], param: str | None, message: str
) -> None:
    before = units_queued(chat_inference)

    response = chat_inference.post("/v1/completions", json={**COMPLETION, **change})

    assert_openai_error(response, 400, param, message)
    assert units_queued(chat_inference) == before


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("field", ["temperature", "top_p", "presence_penalty"])
def test_non_finite_numbers_answer_400(chat_inference: httpx.Client, field: str, number: str) -> None:
    content = f'{{"model": "policy", "messages": [{{"role": "user", "content": "hi"}}], "{field}": {number}}}'

    response = chat_inference.post(
        "/v1/chat/completions", content=content, headers={"content-type": "application/json"}
    )

    assert_openai_error(response, 400, field, "finite number")


@pytest.mark.parametrize(
    ("route", "content", "param"),
    [
        (
            "chat/completions",
            '{"model": "policy", "messages": [{"role": "user", "content": "a\\ud800"}]}',
            "messages.0.content",
        ),
        (
            "chat/completions",
            '{"model": "a\\ud800", "messages": [{"role": "user", "content": "hi"}]}',
            "model",
        ),
        ("completions", '{"model": "policy", "prompt": ["ok", "\\udc00"]}', "prompt"),
    ],
    ids=["message", "model", "prompt"],
)
def test_lone_surrogates_answer_400(
    chat_inference: httpx.Client, route: str, content: str, param: str
) -> None:
    response = chat_inference.post(
        f"/v1/{route}", content=content, headers={"content-type": "application/json"}
    )

    assert_openai_error(response, 400, param, "lone surrogate")


def test_non_finite_temperature_on_generate_answers_422(chat_inference: httpx.Client) -> None:
    content = '{"inputs": "The morning", "parameters": {"temperature": NaN, "max_new_tokens": 2}}'

    response = chat_inference.post("/generate", content=content, headers={"content-type": "application/json"})

    assert response.status_code == 422
    assert response.json()["error_type"] == "validation" and "finite number" in response.json()["error"]


def test_malformed_json_answers_400(chat_inference: httpx.Client) -> None:
    response = chat_inference.post(
        "/v1/chat/completions",
        content=b'{"model": "policy", "messages": [',
        headers={"content-type": "application/json"},
    )

    assert_openai_error(response, 400, None, "JSON")


def test_temperature_zero_stays_a_422_on_generate(chat_inference: httpx.Client) -> None:
    response = chat_inference.post(
        "/generate", json={"inputs": "The morning", "parameters": {"temperature": 0}}
    )

    assert response.status_code == 422
    assert response.json()["error"] == "Input validation error: `temperature` must be strictly positive"


def test_messages_to_a_model_without_chat_template_answer_400(inference: httpx.Client) -> None:
    response = inference.post("/v1/chat/completions", json=CHAT)

    assert_openai_error(response, 400, "messages", "has no chat template")
    assert "/v1/completions" in response.json()["error"]["message"]
    assert inference.post("/v1/completions", json=COMPLETION).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "status"), [("POST", "/v1/embeddings", 404), ("GET", "/v1/chat/completions", 405)]
)
def test_unknown_v1_route_answers_in_openai_shape(
    chat_inference: httpx.Client, method: str, path: str, status: int
) -> None:
    response = chat_inference.request(method, path)

    assert response.status_code == status
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert path in response.json()["error"]["message"]


def test_the_openai_client_raises_bad_request_with_the_message(openai_client: OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(model="policy", messages=[{"role": "robot", "content": "hi"}])  # type: ignore[list-item,misc]

    assert "unknown role 'robot'" in caught.value.message
    assert caught.value.status_code == 400 and caught.value.code is None


def test_bad_requests_beside_good_ones_change_nothing_for_them(
    openai_client: OpenAI, chat_inference_url: str, admin_token: str
) -> None:
    good = {"model": "policy", "messages": MESSAGES, "max_tokens": 8, "seed": 5, "temperature": 1.1}
    alone = openai_client.chat.completions.create(**good)  # type: ignore[call-overload]
    bad: list[dict[str, Any]] = [
        {**good, "messages": []},
        {**good, "messages": [{"role": "robot", "content": "x"}]},
        {**good, "n": 0},
        {**good, "model": "gpt-4o"},
        {**good, "messages": [{"role": "user", "content": LONG}]},
    ]

    async def mixed() -> list[Any]:
        async with AsyncOpenAI(
            base_url=f"{chat_inference_url}/v1", api_key=admin_token, max_retries=0
        ) as client:
            calls = [client.chat.completions.create(**body) for body in [good, *bad, good]]
            return await asyncio.gather(*calls, return_exceptions=True)

    first, *refused, last = asyncio.run(mixed())

    assert (
        first.choices[0].message.content
        == last.choices[0].message.content
        == alone.choices[0].message.content
    )
    assert [type(error) for error in refused] == [openai.BadRequestError] * 3 + [
        openai.NotFoundError,
        openai.BadRequestError,
    ]
