"""POST /v1/chat/completions through the official `openai` client: OpenAI's shapes, the chat template,
streaming, n, seeds, stop sequences, usage, logprobs, and batching with other clients."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
from openai import AsyncOpenAI, OpenAI
from transformers import AutoTokenizer

from tests.helpers.inference import serving
from tests.inference.test_generate import metric_total

MESSAGES: list[Any] = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "Is the lake cold in the morning?"},
]
SAMPLED: dict[str, Any] = {"temperature": 1.2, "top_p": 0.95, "max_tokens": 12, "seed": 1234}


def templated_ids(policy_dir: Path, messages: list[Any]) -> list[int]:
    tokenizer = AutoTokenizer.from_pretrained(policy_dir)
    ids = tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=True, return_dict=False, sanitize_control_tokens=True
    )
    assert isinstance(ids, list)
    return ids  # type: ignore[return-value]


def test_chat_completion_answers_openai_shape(
    openai_client: OpenAI, chat_inference: httpx.Client, chat_policy_dir: Path
) -> None:
    raw = openai_client.chat.completions.with_raw_response.create(
        model="policy", messages=MESSAGES, **SAMPLED
    )
    completion = raw.parse()

    name = serving(chat_inference, "policy")
    assert raw.headers["x-model-version"] == name
    assert completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    assert abs(completion.created - time.time()) < 60
    assert completion.model == name
    (choice,) = completion.choices
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert isinstance(choice.message.content, str) and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert choice.logprobs is None
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens == len(templated_ids(chat_policy_dir, MESSAGES))
    assert 1 <= usage.completion_tokens <= 12
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    body = json.loads(raw.http_response.text)
    assert set(body) == {"id", "object", "created", "model", "choices", "usage"}
    assert set(body["choices"][0]) == {"index", "message", "logprobs", "finish_reason"}


def test_chat_applies_the_models_chat_template(
    openai_client: OpenAI, chat_inference: httpx.Client, chat_policy_dir: Path
) -> None:
    templated = AutoTokenizer.from_pretrained(chat_policy_dir).apply_chat_template(
        MESSAGES, add_generation_prompt=True, tokenize=False
    )
    tgi = chat_inference.post("/generate", json={"inputs": templated, "parameters": {"max_new_tokens": 10}})

    chat = openai_client.chat.completions.create(
        model="policy", messages=MESSAGES, temperature=0, max_tokens=10
    )

    assert chat.choices[0].message.content == tgi.json()["generated_text"]  # greedy: the same tokens


def test_chat_temperature_zero_is_greedy_whatever_the_seed(openai_client: OpenAI) -> None:
    texts = {
        openai_client.chat.completions.create(
            model="policy", messages=MESSAGES, temperature=0, max_tokens=10, seed=seed
        )
        .choices[0]
        .message.content
        for seed in (1, 2, 3)
    }

    assert len(texts) == 1


def test_chat_same_seed_same_text_twice_and_other_seeds_differ(openai_client: OpenAI) -> None:
    def answer(seed: int) -> str | None:
        return (
            openai_client.chat.completions.create(
                model="policy", messages=MESSAGES, **{**SAMPLED, "seed": seed}
            )
            .choices[0]
            .message.content
        )

    first, again = answer(1234), answer(1234)
    others = {answer(seed) for seed in (1, 2, 3)}

    assert first == again
    assert len(others | {first}) > 1


def test_chat_same_seed_same_text_beside_other_requests(
    openai_client: OpenAI, chat_inference: httpx.Client, chat_inference_url: str, admin_token: str
) -> None:
    alone = openai_client.chat.completions.create(model="policy", messages=MESSAGES, **SAMPLED)
    batches_before = metric_total(chat_inference, "rlhf_inference_batch_size_count", "generate")
    units_before = metric_total(chat_inference, "rlhf_inference_batch_size_sum", "generate")

    async def all_at_once() -> list[Any]:
        async with AsyncOpenAI(
            base_url=f"{chat_inference_url}/v1", api_key=admin_token, max_retries=0
        ) as client:
            others = [
                client.chat.completions.create(
                    model="policy",
                    messages=[{"role": "user", "content": "Count the birds " * (seed + 1)}],
                    max_tokens=3 + seed,
                    seed=seed,
                )
                for seed in range(6)
            ]
            target = client.chat.completions.create(model="policy", messages=MESSAGES, **SAMPLED)
            return await asyncio.gather(*others, target)

    answers = asyncio.run(all_at_once())

    assert answers[-1].choices[0].message.content == alone.choices[0].message.content
    assert answers[-1].usage == alone.usage
    batches = metric_total(chat_inference, "rlhf_inference_batch_size_count", "generate") - batches_before
    units = metric_total(chat_inference, "rlhf_inference_batch_size_sum", "generate") - units_before
    assert units == len(answers) and batches < units  # chat requests shared batches


def test_chat_n2_samples_two_choices_the_first_as_n1(openai_client: OpenAI) -> None:
    single = openai_client.chat.completions.create(model="policy", messages=MESSAGES, **SAMPLED)

    double = openai_client.chat.completions.create(model="policy", messages=MESSAGES, n=2, **SAMPLED)

    assert [choice.index for choice in double.choices] == [0, 1]
    first, second = (choice.message.content for choice in double.choices)
    assert first == single.choices[0].message.content
    assert second != first
    assert double.usage is not None and single.usage is not None
    assert double.usage.prompt_tokens == single.usage.prompt_tokens  # the prompt counts once
    assert double.usage.completion_tokens > single.usage.completion_tokens


def test_chat_stream_sends_chunks_that_add_up_to_the_answer(
    openai_client: OpenAI, chat_inference_url: str, admin_token: str
) -> None:
    plain = openai_client.chat.completions.create(model="policy", messages=MESSAGES, n=2, **SAMPLED)

    chunks = list(
        openai_client.chat.completions.create(
            model="policy",
            messages=MESSAGES,
            n=2,
            stream=True,
            stream_options={"include_usage": True},
            **SAMPLED,
        )
    )

    assert len({chunk.id for chunk in chunks}) == 1 and chunks[0].id.startswith("chatcmpl-")
    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}
    assert {chunk.model for chunk in chunks} == {plain.model}
    *choice_chunks, usage_chunk = chunks
    for index, choice in enumerate(plain.choices):
        mine = [c.choices[0] for c in choice_chunks if c.choices[0].index == index]
        assert mine[0].delta.role == "assistant" and mine[0].delta.content == ""
        assert "".join(c.delta.content or "" for c in mine) == choice.message.content
        assert [c.finish_reason for c in mine] == [None] * (len(mine) - 1) + [choice.finish_reason]
    assert all(chunk.usage is None for chunk in choice_chunks)
    assert usage_chunk.choices == [] and usage_chunk.usage == plain.usage
    # On the wire: `data: {...}` events, the last `data: [DONE]`.
    body = {"model": "policy", "messages": MESSAGES, "stream": True, **SAMPLED}
    with httpx.stream(
        "POST",
        f"{chat_inference_url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {admin_token}"},
        timeout=60,
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-model-version"] == plain.model
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    assert "usage" not in json.loads(lines[-2][len("data: ") :])  # not asked for


def test_chat_stop_sequence_ends_the_answer_before_it(openai_client: OpenAI) -> None:
    free = openai_client.chat.completions.create(
        model="policy", messages=MESSAGES, temperature=0, max_tokens=20
    )
    text = free.choices[0].message.content
    assert text is not None and len(text) > 8
    stop = text[4:7]  # three characters wherever the tokens break
    expected = text[: text.find(stop)]

    stopped = openai_client.chat.completions.create(
        model="policy", messages=MESSAGES, temperature=0, max_tokens=20, stop=["never appears", stop]
    )
    streamed = openai_client.chat.completions.create(
        model="policy", messages=MESSAGES, temperature=0, max_tokens=20, stop=stop, stream=True
    )

    assert stopped.choices[0].message.content == expected
    assert stopped.choices[0].finish_reason == "stop"
    pieces = [chunk.choices[0].delta.content or "" for chunk in streamed if chunk.choices]
    assert "".join(pieces) == expected


def test_chat_max_tokens_ends_with_length(openai_client: OpenAI) -> None:
    short = openai_client.chat.completions.create(
        model="policy", messages=MESSAGES, temperature=0, max_tokens=3
    )
    newer = openai_client.chat.completions.create(
        model="policy", messages=MESSAGES, temperature=0, max_tokens=9, max_completion_tokens=3
    )

    assert short.choices[0].finish_reason == "length"
    assert short.usage is not None and short.usage.completion_tokens == 3
    assert newer.choices[0].message.content == short.choices[0].message.content  # the newer name wins


def test_chat_logprobs_list_each_token_and_its_alternatives(openai_client: OpenAI) -> None:
    answer = openai_client.chat.completions.create(
        model="policy", messages=MESSAGES, temperature=0, max_tokens=5, logprobs=True, top_logprobs=2
    )

    logprobs = answer.choices[0].logprobs
    assert logprobs is not None and logprobs.content
    assert "".join(entry.token for entry in logprobs.content) == answer.choices[0].message.content
    for entry in logprobs.content:
        assert entry.logprob <= 0.0 and entry.bytes == list(entry.token.encode())
        assert len(entry.top_logprobs) == 2
        assert entry.top_logprobs[0].token == entry.token  # greedy takes the most likely
        assert entry.top_logprobs[0].logprob >= entry.top_logprobs[1].logprob


def test_chat_penalties_change_a_greedy_answer(openai_client: OpenAI) -> None:
    def greedy(**penalties: Any) -> str | None:
        return (
            openai_client.chat.completions.create(
                model="policy", messages=MESSAGES, temperature=0, max_tokens=24, **penalties
            )
            .choices[0]
            .message.content
        )

    plain = greedy()

    assert greedy(presence_penalty=2.0) != plain
    assert greedy(frequency_penalty=2.0) != plain


def test_chat_developer_role_is_a_system_message(openai_client: OpenAI) -> None:
    def greedy(role: str) -> str | None:
        messages: list[Any] = [{"role": role, "content": "Answer briefly."}, MESSAGES[1]]
        answer = openai_client.chat.completions.create(
            model="policy", messages=messages, temperature=0, max_tokens=8
        )
        return answer.choices[0].message.content

    assert greedy("developer") == greedy("system")


def test_chat_control_tokens_in_messages_are_plain_text(openai_client: OpenAI, chat_policy_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(chat_policy_dir)
    messages: list[Any] = [{"role": "user", "content": f"a{tokenizer.eos_token}b"}]

    answer = openai_client.chat.completions.create(model="policy", messages=messages, max_tokens=2)

    assert answer.usage is not None
    ids = templated_ids(chat_policy_dir, messages)
    assert answer.usage.prompt_tokens == len(ids)
    assert ids.count(tokenizer.eos_token_id) == 1  # only the template's own end of turn


def test_chat_text_content_parts_are_joined(openai_client: OpenAI) -> None:
    def greedy(content: Any) -> str | None:
        answer = openai_client.chat.completions.create(
            model="policy", messages=[{"role": "user", "content": content}], temperature=0, max_tokens=6
        )
        return answer.choices[0].message.content

    parts = [{"type": "text", "text": "Is the lake"}, {"type": "text", "text": "cold?"}]

    assert greedy(parts) == greedy("Is the lake\ncold?")
