"""POST /generate, /generate_stream and / : TGI's request, answer, stream and validation rules."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import httpx
import pytest

from tests.helpers.inference import serving, sse_events

TOKEN_KEYS = {"id", "text", "logprob", "special"}
SAMPLED = {
    "do_sample": True,
    "seed": 1234,
    "temperature": 1.5,
    "top_k": 50,
    "top_p": 0.95,
    "max_new_tokens": 12,
}


def generate(client: httpx.Client, inputs: str, **parameters: Any) -> dict[str, Any]:
    response = client.post("/generate", json={"inputs": inputs, "parameters": parameters})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def metric_total(client: httpx.Client, name: str, queue: str) -> float:
    text = client.get("/metrics").text
    match = re.search(rf'^{name}{{queue="{queue}"}} ([0-9.e+]+)$', text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_generate_answers_tgi_shape_with_details(inference: httpx.Client) -> None:
    response = inference.post(
        "/generate", json={"inputs": "The morning", "parameters": {"max_new_tokens": 8, "details": True}}
    )

    assert response.status_code == 200
    assert response.headers["x-model-version"] == serving(inference, "policy")
    answer = response.json()
    assert set(answer) == {"generated_text", "details"}
    details = answer["details"]
    assert set(details) == {"finish_reason", "generated_tokens", "seed", "prefill", "tokens"}
    assert details["finish_reason"] in ("length", "eos_token")
    assert details["seed"] is None  # greedy, as TGI reports it
    assert details["prefill"] == []
    assert details["generated_tokens"] == len(details["tokens"]) <= 8
    for token in details["tokens"]:
        assert set(token) == TOKEN_KEYS
        assert isinstance(token["id"], int) and isinstance(token["special"], bool)
        assert token["logprob"] <= 0.0
    assert answer["generated_text"] == "".join(t["text"] for t in details["tokens"] if not t["special"])


def test_generate_without_details_answers_text_only(inference: httpx.Client) -> None:
    answer = generate(inference, "The morning", max_new_tokens=4)

    assert set(answer) == {"generated_text"}


def test_generate_without_parameters_uses_defaults(inference: httpx.Client) -> None:
    response = inference.post("/generate", json={"inputs": "The morning"})

    assert response.status_code == 200
    assert isinstance(response.json()["generated_text"], str)


def test_generate_return_full_text_prepends_inputs(inference: httpx.Client) -> None:
    plain = generate(inference, "The morning", max_new_tokens=5)
    full = generate(inference, "The morning", max_new_tokens=5, return_full_text=True)

    assert full["generated_text"] == "The morning" + plain["generated_text"]


def test_generate_same_seed_same_text_alone_and_batched(inference: httpx.Client, inference_url: str) -> None:
    alone = generate(inference, "She opened", details=True, **SAMPLED)
    others = [
        {
            "inputs": "A good answer",
            "parameters": {"do_sample": True, "seed": seed, "max_new_tokens": 3 + seed},
        }
        for seed in range(6)
    ] + [{"inputs": "Numbers like 12 and 345 appear", "parameters": {"max_new_tokens": 20}}]
    target = {"inputs": "She opened", "parameters": {**SAMPLED, "details": True}}
    batches_before = metric_total(inference, "rlhf_inference_batch_size_count", "generate")
    units_before = metric_total(inference, "rlhf_inference_batch_size_sum", "generate")

    async def all_at_once() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=inference_url, timeout=120) as client:
            return await asyncio.gather(*(client.post("/generate", json=body) for body in [*others, target]))

    responses = asyncio.run(all_at_once())

    assert all(r.status_code == 200 for r in responses)
    batched = responses[-1].json()
    assert batched["generated_text"] == alone["generated_text"]
    assert [t["id"] for t in batched["details"]["tokens"]] == [t["id"] for t in alone["details"]["tokens"]]
    assert batched["details"]["seed"] == alone["details"]["seed"] == 1234
    batches = metric_total(inference, "rlhf_inference_batch_size_count", "generate") - batches_before
    units = metric_total(inference, "rlhf_inference_batch_size_sum", "generate") - units_before
    assert units == len(responses) and batches < units  # some requests shared a batch


# Each beside six good requests; the last one is valid (every token is in the top 10^30) and answers.
POISONS = [
    pytest.param(
        b'{"inputs": "The \\ud800 morning", "parameters": {"max_new_tokens": 4}}', 422, id="lone-surrogate"
    ),
    pytest.param(b'{"inputs": "The morning", "parameters": {"temperature": NaN}}', 422, id="nan-temperature"),
    pytest.param(b'{"inputs": "The morning", "parameters": {"stop": ["\\udfff"]}}', 422, id="surrogate-stop"),
    pytest.param(
        b'{"inputs": "The morning", "parameters": {"top_k": 1' + b"0" * 30 + b"}}", 200, id="huge-top_k"
    ),
]


@pytest.mark.parametrize(("poison", "status"), POISONS)
def test_a_bad_request_beside_six_good_ones_fails_alone(
    inference: httpx.Client, inference_url: str, poison: bytes, status: int
) -> None:
    good = [
        {"inputs": f"A good answer {seed}", "parameters": {**SAMPLED, "seed": seed, "details": True}}
        for seed in range(6)
    ]
    alone = [inference.post("/generate", json=body).json() for body in good]

    async def all_at_once() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=inference_url, timeout=120) as client:
            bad = client.post("/generate", content=poison, headers={"content-type": "application/json"})
            return await asyncio.gather(*(client.post("/generate", json=body) for body in good), bad)

    *answers, other = asyncio.run(all_at_once())

    assert [r.status_code for r in answers] == [200] * 6
    assert [r.json()["generated_text"] for r in answers] == [a["generated_text"] for a in alone]
    assert other.status_code == status, other.text
    if status == 422:
        assert other.json()["error_type"] == "validation"


def test_generate_different_seeds_give_different_texts(inference: httpx.Client) -> None:
    texts = {
        generate(inference, "She opened", **{**SAMPLED, "seed": seed})["generated_text"] for seed in range(4)
    }

    assert len(texts) > 1


def test_generate_without_seed_reports_the_seed_it_drew(inference: httpx.Client) -> None:
    first = generate(inference, "She opened", do_sample=True, max_new_tokens=6, details=True)
    again = generate(inference, "She opened", do_sample=True, max_new_tokens=6, seed=first["details"]["seed"])

    assert isinstance(first["details"]["seed"], int)
    assert again["generated_text"] == first["generated_text"]


def test_generate_stop_sequence_ends_generation(inference: httpx.Client) -> None:
    free = generate(inference, "The morning", max_new_tokens=10, details=True)
    texts = [t["text"] for t in free["details"]["tokens"]]
    stop = "".join(texts[:3])

    stopped = generate(
        inference, "The morning", max_new_tokens=10, details=True, stop=["never appears", stop]
    )

    assert stopped["details"]["finish_reason"] == "stop_sequence"
    assert stopped["generated_text"] == stop  # the stop sequence stays in the text, as in TGI
    assert stopped["details"]["generated_tokens"] <= 3


def test_generate_decoder_input_details_returns_prefill(inference: httpx.Client) -> None:
    answer = generate(inference, "The morning was cold", max_new_tokens=2, decoder_input_details=True)

    prefill = answer["details"]["prefill"]
    assert prefill and set(prefill[0]) == {"id", "text", "logprob"}
    assert prefill[0]["logprob"] is None
    assert all(token["logprob"] <= 0.0 for token in prefill[1:])
    assert "".join(token["text"] for token in prefill) == "The morning was cold"


def test_generate_truncate_keeps_last_input_tokens(inference: httpx.Client) -> None:
    answer = generate(
        inference, "The morning was cold", max_new_tokens=1, decoder_input_details=True, truncate=2
    )

    prefill = answer["details"]["prefill"]
    assert len(prefill) == 2
    assert "The morning was cold".endswith("".join(token["text"] for token in prefill))


def test_generate_top_n_tokens_lists_the_most_likely(inference: httpx.Client) -> None:
    answer = generate(inference, "The morning", max_new_tokens=3, details=True, top_n_tokens=2)

    details = answer["details"]
    assert len(details["top_tokens"]) == len(details["tokens"])
    for chosen, top in zip(details["tokens"], details["top_tokens"], strict=True):
        assert len(top) == 2 and set(top[0]) == TOKEN_KEYS
        assert top[0]["id"] == chosen["id"]  # greedy picks the most likely


def test_generate_stream_sends_tgi_stream_responses(inference: httpx.Client) -> None:
    body = {"inputs": "She opened", "parameters": {**SAMPLED, "details": True}}
    reference = inference.post("/generate", json=body).json()

    events = sse_events(inference, "/generate_stream", body)

    assert [event["index"] for event in events] == list(range(1, len(events) + 1))
    for event in events[:-1]:
        assert set(event) == {"index", "token", "generated_text", "details"}
        assert event["generated_text"] is None and event["details"] is None
    for event in events:
        assert set(event["token"]) == TOKEN_KEYS
    last = events[-1]
    assert last["generated_text"] == reference["generated_text"]
    assert last["details"] == {
        "finish_reason": reference["details"]["finish_reason"],
        "generated_tokens": len(events),
        "seed": 1234,
        "input_length": last["details"]["input_length"],
    }
    assert [event["token"] for event in events] == reference["details"]["tokens"]


def test_generate_stream_without_details_ends_with_text(inference: httpx.Client) -> None:
    events = sse_events(
        inference, "/generate_stream", {"inputs": "The morning", "parameters": {"max_new_tokens": 4}}
    )

    assert events[-1]["details"] is None
    assert events[-1]["generated_text"] == "".join(event["token"]["text"] for event in events)


def test_compat_route_answers_a_list_or_a_stream(inference: httpx.Client) -> None:
    body = {"inputs": "The morning", "parameters": {"max_new_tokens": 4}}
    listed = inference.post("/", json=body)
    events = sse_events(inference, "/", {**body, "stream": True})

    assert listed.status_code == 200
    assert listed.json() == [inference.post("/generate", json=body).json()]
    assert events[-1]["generated_text"] == listed.json()[0]["generated_text"]


LONG_INPUT = "The morning was cold and clear. " * 40  # far more than the tiny model's 128 tokens

INVALID = [
    pytest.param({"inputs": ""}, "`inputs` cannot be empty", id="empty-inputs"),
    pytest.param(
        {"parameters": {"temperature": 0}}, "`temperature` must be strictly positive", id="temperature-0"
    ),
    pytest.param(
        {"parameters": {"temperature": -1.0}}, "`temperature` must be strictly positive", id="temp-neg"
    ),
    pytest.param({"parameters": {"top_p": 0}}, "`top_p` must be > 0.0 and < 1.0", id="top_p-0"),
    pytest.param({"parameters": {"top_p": 1.0}}, "`top_p` must be > 0.0 and < 1.0", id="top_p-1"),
    pytest.param({"parameters": {"top_p": 1.5}}, "`top_p` must be > 0.0 and < 1.0", id="top_p-1.5"),
    pytest.param({"parameters": {"top_k": 0}}, "`top_k` must be strictly positive", id="top_k-0"),
    pytest.param({"parameters": {"top_k": -3}}, "`top_k` must be strictly positive", id="top_k-neg"),
    pytest.param(
        {"parameters": {"max_new_tokens": 0}}, "`max_new_tokens` must be strictly positive", id="mnt-0"
    ),
    pytest.param(
        {"parameters": {"max_new_tokens": -5}}, "`max_new_tokens` must be strictly positive", id="mnt-neg"
    ),
    pytest.param({"parameters": {"max_new_tokens": 1025}}, "`max_new_tokens` must be <= 1024", id="mnt-cap"),
    pytest.param(
        {"parameters": {"repetition_penalty": 0}},
        "`repetition_penalty` must be strictly positive",
        id="rep-0",
    ),
    pytest.param({"parameters": {"typical_p": 1.0}}, "`typical_p` must be > 0.0 and < 1.0", id="typical_p-1"),
    pytest.param(
        {"parameters": {"frequency_penalty": 3}}, "`frequency_penalty` must be >= -2.0", id="freq-3"
    ),
    pytest.param(
        {"parameters": {"stop": list("abcde")}}, "`stop` supports up to 4 stop sequences", id="stop-5"
    ),
    # /generate: greedy decoding cannot give several sequences; /generate_stream: never several sequences
    pytest.param({"parameters": {"best_of": 2}}, "`best_of`", id="best_of-2"),
    pytest.param({"parameters": {"top_n_tokens": 6}}, "`top_n_tokens` must be >= 0 and <= 5", id="top_n-6"),
    pytest.param({"parameters": {"truncate": 0}}, "`truncate` must be strictly positive", id="truncate-0"),
    pytest.param(
        {"parameters": {"grammar": {"type": "regex", "value": "a+"}}}, "grammar is not supported", id="gram"
    ),
    pytest.param({"parameters": {"seed": -1}}, "parameters.seed", id="seed-negative"),
    pytest.param({"parameters": {"temperature": "hot"}}, "parameters.temperature", id="temperature-type"),
    pytest.param({"inputs": None}, "inputs", id="inputs-null"),
    pytest.param({"inputs": LONG_INPUT}, "`inputs` must have less than 128 tokens", id="input-too-long"),
    pytest.param(
        {"inputs": "The morning was cold and clear. " * 8, "parameters": {"max_new_tokens": 100}},
        "`inputs` tokens + `max_new_tokens` must be <= 128",
        id="total-too-long",
    ),
]


@pytest.mark.parametrize("path", ["/generate", "/generate_stream"])
@pytest.mark.parametrize(("change", "message"), INVALID)
def test_invalid_generate_request_answers_422(
    inference: httpx.Client, path: str, change: dict[str, Any], message: str
) -> None:
    parameters = {"max_new_tokens": 4, **change.get("parameters", {})}
    body = {"inputs": "The morning", **change, "parameters": parameters}

    response = inference.post(path, json=body)

    assert response.status_code == 422
    error = response.json()
    assert set(error) == {"error", "error_type", "detail"}
    assert error["error_type"] == "validation"
    assert error["error"].startswith("Input validation error: ")
    assert message in error["error"]
    assert error["detail"] == error["error"]


def test_stream_refuses_decoder_input_details(inference: httpx.Client) -> None:
    body = {"inputs": "The morning", "parameters": {"decoder_input_details": True}}

    response = inference.post("/generate_stream", json=body)

    assert response.status_code == 422
    assert "not supported when streaming" in response.json()["error"]


def test_short_request_answers_before_the_long_one_in_its_batch(
    inference: httpx.Client, inference_url: str
) -> None:
    short = {"inputs": "The morning", "parameters": {"max_new_tokens": 1}}
    long = {"inputs": "The morning", "parameters": {"max_new_tokens": 120}}

    async def both() -> tuple[float, float]:
        async with httpx.AsyncClient(base_url=inference_url, timeout=120) as client:
            started = time.perf_counter()

            async def timed(body: dict[str, Any]) -> float:
                (await client.post("/generate", json=body)).raise_for_status()
                return time.perf_counter() - started

            return await asyncio.gather(timed(short), timed(long))

    for _ in range(3):  # until the two share a batch (they are sent together, but the window is finite)
        batches = metric_total(inference, "rlhf_inference_batch_size_count", "generate")
        short_done, long_done = asyncio.run(both())
        if metric_total(inference, "rlhf_inference_batch_size_count", "generate") - batches == 1:
            break
    else:
        pytest.fail("the two requests never shared a batch")

    assert short_done < long_done


def test_short_stream_ends_before_the_long_request_in_its_batch(
    inference: httpx.Client, inference_url: str
) -> None:
    short = {"inputs": "The morning", "parameters": {"max_new_tokens": 1}}
    long = {"inputs": "The morning", "parameters": {"max_new_tokens": 120}}

    async def both() -> tuple[float, float]:
        async with httpx.AsyncClient(base_url=inference_url, timeout=120) as client:
            started = time.perf_counter()

            async def streamed() -> float:
                async with client.stream("POST", "/generate_stream", json=short) as response:
                    await response.aread()  # the whole stream: it ends when its own row does
                return time.perf_counter() - started

            async def answered() -> float:
                (await client.post("/generate", json=long)).raise_for_status()
                return time.perf_counter() - started

            return await asyncio.gather(streamed(), answered())

    for _ in range(3):  # until the two share a batch
        batches = metric_total(inference, "rlhf_inference_batch_size_count", "generate")
        short_done, long_done = asyncio.run(both())
        if metric_total(inference, "rlhf_inference_batch_size_count", "generate") - batches == 1:
            break
    else:
        pytest.fail("the two requests never shared a batch")

    assert short_done < long_done
