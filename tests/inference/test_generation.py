"""generate_batch in-process on the tiny chat model: OpenAI's stop and penalty rules, the chat template on the
worker, and requests that fail alone in their batch (a version that stopped serving, a template error, a row
that cannot be built or whose step fails)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from services.core.enums import ModelKind
from services.inference.errors import (
    GenerationError,
    InvalidRequestError,
    ModelNotFoundError,
    ValidationError,
)
from services.inference.generation import (
    GenerationRequest,
    GenerationResult,
    TokenInfo,
    _OpenAIPenalties,
    generate_batch,
)
from services.inference.loading import LoadedModel, Target, load_policy
from services.inference.validation import SamplingParams

GREEDY = SamplingParams(max_new_tokens=16)
SAMPLED = SamplingParams(max_new_tokens=16, do_sample=True, seed=3)
MESSAGES = [{"role": "user", "content": "Is the lake cold?"}]


@pytest.fixture(scope="module")
def policy(chat_policy_dir: Path) -> LoadedModel:
    return load_policy(Target(ModelKind.POLICY, "chat", None, "default", str(chat_policy_dir)))


def generate(policy: LoadedModel, *requests: GenerationRequest) -> list[GenerationResult | Exception]:
    return generate_batch(policy, list(requests))


def test_stop_inside_a_token_stops_at_that_token(policy: LoadedModel) -> None:
    (free,) = generate(policy, GenerationRequest("The morning", SAMPLED))
    assert isinstance(free, GenerationResult)
    texts = [token.text for token in free.tokens]
    # A stop sequence that ends inside a later token: its last character and the next token's first one.
    k = next(i for i in range(2, len(texts) - 1) if texts[i] and len(texts[i + 1]) >= 2)
    stop = texts[k][-1] + texts[k + 1][0]
    first = next(i for i in range(len(texts)) if stop in "".join(texts[: i + 1]))
    params = dataclasses.replace(SAMPLED, stop=(stop,))

    tgi, openai = generate(
        policy,
        GenerationRequest("The morning", params),
        GenerationRequest("The morning", dataclasses.replace(params, stop_inside_tokens=True)),
    )

    assert isinstance(openai, GenerationResult) and isinstance(tgi, GenerationResult)
    assert openai.finish_reason == "stop_sequence"
    assert len(openai.tokens) == first + 1
    # TGI's rule only sees a stop sequence at the end of the text: this one does not stop it there.
    assert len(tgi.tokens) > first + 1 or tgi.finish_reason != "stop_sequence"


def test_openai_penalties_count_generated_tokens_only() -> None:
    penalties = _OpenAIPenalties(frequency=0.5, presence=1.0, prompt_length=2)
    history = torch.tensor([[1, 2, 3, 3, 4]])  # prompt 1, 2; generated 3, 3, 4

    scores = penalties(history, torch.zeros((1, 6)))

    assert scores.tolist() == [[0.0, 0.0, 0.0, -2.0, -1.5, 0.0]]


def test_conversation_goes_through_the_chat_template(policy: LoadedModel, chat_policy_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(chat_policy_dir)
    templated = tokenizer.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    assert isinstance(templated, str)

    chat, text = generate(policy, GenerationRequest(MESSAGES, GREEDY), GenerationRequest(templated, GREEDY))

    assert isinstance(chat, GenerationResult) and isinstance(text, GenerationResult)
    assert chat.input_length == text.input_length
    assert [t.id for t in chat.tokens] == [t.id for t in text.tokens]


def test_request_for_a_version_no_longer_serving_fails_alone(policy: LoadedModel) -> None:
    moved, kept, free = generate(
        policy,
        GenerationRequest("The morning", GREEDY, required_model="policy-1"),
        GenerationRequest("The morning", GREEDY, required_model="chat"),
        GenerationRequest("The morning", GREEDY),
    )

    assert isinstance(moved, ModelNotFoundError) and "`policy-1` is no longer served" in moved.message
    assert isinstance(kept, GenerationResult) and isinstance(free, GenerationResult)
    assert kept.tokens == free.tokens


def test_chat_template_error_fails_only_its_request(policy: LoadedModel, chat_policy_dir: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(chat_policy_dir)
    tokenizer.chat_template = "{{ raise_exception('Conversation roles must alternate user/assistant') }}"
    strict = dataclasses.replace(policy, tokenizer=tokenizer)

    refused, fine = generate(
        strict, GenerationRequest(MESSAGES, GREEDY), GenerationRequest("The morning", GREEDY)
    )

    assert isinstance(refused, InvalidRequestError)
    assert "refused the messages: Conversation roles must alternate" in refused.message
    assert isinstance(fine, GenerationResult)


# What validation refuses at the door, handed to the batcher directly: the batcher must not rely on it.
POISONS = [
    pytest.param(
        GenerationRequest("The morning", dataclasses.replace(SAMPLED, temperature=float("nan"))), id="nan"
    ),
    pytest.param(GenerationRequest("The \ud800 morning", SAMPLED), id="lone-surrogate"),
]


def six_good() -> list[GenerationRequest]:
    return [
        GenerationRequest(text, dataclasses.replace(SAMPLED, seed=seed))
        for seed, text in enumerate(["A", "B"] * 3)
    ]


@pytest.mark.parametrize("poison", POISONS)
def test_a_row_that_cannot_be_built_fails_alone(policy: LoadedModel, poison: GenerationRequest) -> None:
    alone = generate(policy, *six_good())

    *batched, refused = generate(policy, *six_good(), poison)

    assert isinstance(refused, ValidationError)
    assert [r.tokens for r in batched if isinstance(r, GenerationResult)] == [
        r.tokens for r in alone if isinstance(r, GenerationResult)
    ]
    assert len(batched) == len(alone) == 6


def test_a_row_whose_step_fails_ends_alone(policy: LoadedModel) -> None:
    def broken(token: TokenInfo, result: GenerationResult | None) -> None:
        raise RuntimeError("this request's callback failed")

    failing = GenerationRequest("The morning", SAMPLED, on_token=broken)

    *batched, failed = generate(policy, *six_good(), failing)

    assert isinstance(failed, GenerationError) and "this request's callback failed" in failed.message
    # The others decode to their end.
    assert all(isinstance(r, GenerationResult) for r in batched)
    assert len(batched) == 6
