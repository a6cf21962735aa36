"""POST /v1/completions through the official `openai` client: a prompt or a list of prompts, n, echo,
streaming, logprobs; the same engine as /generate."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from openai import OpenAI
from transformers import AutoTokenizer

from tests.helpers.inference import serving

PROMPT = "The morning was cold"
SAMPLED: dict[str, Any] = {"temperature": 1.2, "max_tokens": 10, "seed": 99}


def test_completion_answers_openai_shape(
    openai_client: OpenAI, chat_inference: httpx.Client, chat_policy_dir: Path
) -> None:
    raw = openai_client.completions.with_raw_response.create(model="policy", prompt=PROMPT, **SAMPLED)
    completion = raw.parse()

    assert raw.headers["x-model-version"] == completion.model == serving(chat_inference, "policy")
    assert completion.id.startswith("cmpl-")
    assert completion.object == "text_completion"
    assert abs(completion.created - time.time()) < 60
    (choice,) = completion.choices
    assert choice.index == 0 and isinstance(choice.text, str)
    assert choice.finish_reason in ("stop", "length") and choice.logprobs is None
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == len(
        AutoTokenizer.from_pretrained(chat_policy_dir)(PROMPT)["input_ids"]
    )
    assert (
        completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


def test_greedy_completion_equals_generate(openai_client: OpenAI, chat_inference: httpx.Client) -> None:
    tgi = chat_inference.post("/generate", json={"inputs": PROMPT, "parameters": {"max_new_tokens": 8}})

    completion = openai_client.completions.create(model="policy", prompt=PROMPT, temperature=0, max_tokens=8)

    assert completion.choices[0].text == tgi.json()["generated_text"]


def test_completion_of_a_prompt_list_orders_choices_prompt_by_prompt(openai_client: OpenAI) -> None:
    prompts = [PROMPT, "She opened the window"]
    alone = [
        [
            choice.text
            for choice in openai_client.completions.create(model="policy", prompt=p, n=2, **SAMPLED).choices
        ]
        for p in prompts
    ]

    both = openai_client.completions.create(model="policy", prompt=prompts, n=2, **SAMPLED)

    assert [choice.index for choice in both.choices] == [0, 1, 2, 3]
    assert [choice.text for choice in both.choices] == alone[0] + alone[1]
    assert both.usage is not None
    tokens = [openai_client.completions.create(model="policy", prompt=p, max_tokens=1).usage for p in prompts]
    assert both.usage.prompt_tokens == sum(usage.prompt_tokens for usage in tokens if usage is not None)


def test_completion_echo_prepends_the_prompt(openai_client: OpenAI) -> None:
    plain = openai_client.completions.create(model="policy", prompt=PROMPT, **SAMPLED)
    echoed = openai_client.completions.create(model="policy", prompt=PROMPT, echo=True, **SAMPLED)
    streamed = openai_client.completions.create(
        model="policy", prompt=PROMPT, echo=True, stream=True, **SAMPLED
    )

    assert echoed.choices[0].text == PROMPT + plain.choices[0].text
    assert "".join(chunk.choices[0].text for chunk in streamed) == echoed.choices[0].text


def test_completion_stream_adds_up_to_the_answer(openai_client: OpenAI) -> None:
    plain = openai_client.completions.create(model="policy", prompt=PROMPT, n=2, **SAMPLED)

    chunks = list(
        openai_client.completions.create(
            model="policy", prompt=PROMPT, n=2, stream=True, stream_options={"include_usage": True}, **SAMPLED
        )
    )

    *choice_chunks, usage_chunk = chunks
    assert {chunk.id for chunk in chunks} == {choice_chunks[0].id}
    assert {chunk.object for chunk in chunks} == {"text_completion"}
    for index, choice in enumerate(plain.choices):
        mine = [chunk.choices[0] for chunk in choice_chunks if chunk.choices[0].index == index]
        assert "".join(c.text for c in mine) == choice.text
        assert mine[-1].finish_reason == choice.finish_reason
    assert usage_chunk.choices == [] and usage_chunk.usage == plain.usage


def test_completion_logprobs_list_tokens_offsets_and_alternatives(openai_client: OpenAI) -> None:
    completion = openai_client.completions.create(
        model="policy", prompt=PROMPT, temperature=0, max_tokens=5, logprobs=3
    )

    logprobs = completion.choices[0].logprobs
    assert logprobs is not None and logprobs.tokens and logprobs.token_logprobs and logprobs.top_logprobs
    assert "".join(logprobs.tokens) == completion.choices[0].text
    assert logprobs.text_offset == [
        sum(len(t) for t in logprobs.tokens[:i]) for i in range(len(logprobs.tokens))
    ]
    for token, logprob, top in zip(
        logprobs.tokens, logprobs.token_logprobs, logprobs.top_logprobs, strict=True
    ):
        assert len(top) <= 3 and max(top.values()) == logprob  # greedy takes the most likely
        assert top.get(token, logprob) == logprob
