"""GET /v1/models and `model` in requests: the serving version under its name and as `policy`, switched by a
promotion (hot reload), and a 404 in OpenAI's shape for any other name."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from services.core.orm import ModelVersion
from tests.helpers.inference import assert_switched_cleanly, hammer, serving, wait_for

MESSAGES: list[Any] = [{"role": "user", "content": "Is the lake cold?"}]


def listed(client: OpenAI) -> list[str]:
    return [model.id for model in client.models.list()]


def test_models_lists_the_serving_policy_and_the_alias(
    openai_client: OpenAI, chat_inference: httpx.Client
) -> None:
    name = serving(chat_inference, "policy")
    assert name is not None

    models = openai_client.models.list()

    assert [model.id for model in models] == [name, "policy"]
    for model in models:
        assert model.object == "model" and model.owned_by == "rlhf-platform" and model.created > 0
        assert model.model_extra == {"root": name, "max_model_len": 128}
    assert openai_client.models.retrieve(name).id == name
    assert openai_client.models.retrieve("policy").id == "policy"


def test_the_default_policy_answers_by_its_name(openai_client: OpenAI, chat_inference: httpx.Client) -> None:
    name = serving(chat_inference, "policy")
    assert name is not None

    answer = openai_client.chat.completions.create(model=name, messages=MESSAGES, max_tokens=2)

    assert answer.model == name


@pytest.mark.parametrize("model", ["gpt-4o", "policy-999999", ""])
def test_unknown_model_is_a_404_in_openai_shape(
    openai_client: OpenAI, chat_inference: httpx.Client, model: str
) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        openai_client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=2)
    with pytest.raises(openai.NotFoundError):
        openai_client.completions.create(model=model, prompt="The lake", max_tokens=2)

    assert caught.value.body == {
        "message": caught.value.body["message"],  # type: ignore[index]
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }
    assert f"`{model}` does not exist" in caught.value.message
    response = chat_inference.get(f"/v1/models/{model or 'x'}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "model_not_found"


def test_promotion_switches_the_model_of_v1_models_and_requests(
    openai_client: OpenAI,
    chat_inference: httpx.Client,
    make_version: Callable[..., ModelVersion],
    promote: Callable[[int], None],
) -> None:
    default = serving(chat_inference, "policy")
    version = make_version("policy", seed=7)  # a tiny GPT-2 without a chat template

    promote(version.id)

    wait_for(
        lambda: listed(openai_client) == [version.name, "policy"], what="the promoted version in /v1/models"
    )
    answer = openai_client.completions.create(model="policy", prompt="The lake", max_tokens=3)
    assert answer.model == version.name
    assert (
        openai_client.completions.create(model=version.name, prompt="The lake", max_tokens=3).model
        == version.name
    )
    with pytest.raises(openai.NotFoundError):  # the default stopped serving
        openai_client.completions.create(model=str(default), prompt="The lake", max_tokens=3)
    with pytest.raises(openai.BadRequestError) as caught:  # this version has no chat template
        openai_client.chat.completions.create(model="policy", messages=MESSAGES, max_tokens=3)
    assert "has no chat template" in caught.value.message
    assert caught.value.body["param"] == "messages"  # type: ignore[index]


def test_policy_promotion_under_load_switches_v1_answers_without_failures(
    chat_inference_url: str,
    chat_inference: httpx.Client,
    make_version: Callable[..., ModelVersion],
    promote: Callable[[int], None],
) -> None:
    default = serving(chat_inference, "policy")
    version = make_version("policy", seed=8)
    body = {"model": "policy", "prompt": "The morning", "max_tokens": 4}

    logs = asyncio.run(
        hammer(
            chat_inference_url,
            "/v1/completions",
            body,
            switch=lambda: promote(version.id),
            new_name=version.name,
        )
    )

    assert_switched_cleanly(logs, str(default), version.name)
    for log in logs:
        assert all(answer["model"] == model for _, model, answer in log)
