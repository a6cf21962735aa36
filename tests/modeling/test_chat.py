"""A prompt as model input (services/modeling/chat.py), with SmolLM2's own tokenizer and template, and a
template-less GPT-2."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from transformers import AutoTokenizer

from services.modeling.chat import ChatTemplateError, prompt_ids, prompt_text
from tests.helpers.tiny_models import SMOLLM2_TOKENIZER_DIR
from training_jobs.chat_format import encode_prompt, trainer_prompt, trainer_response


@pytest.fixture(scope="module")
def smollm2() -> Any:
    return AutoTokenizer.from_pretrained(SMOLLM2_TOKENIZER_DIR)


@pytest.fixture(scope="module")
def plain(tiny_gpt2_dir: Path) -> Any:
    return AutoTokenizer.from_pretrained(tiny_gpt2_dir)


@pytest.fixture(scope="module")
def tiny_gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.helpers.tiny_models import build_tiny_gpt2

    return build_tiny_gpt2(tmp_path_factory.mktemp("plain"))


def test_a_string_prompt_is_one_user_turn_with_the_assistant_turn_opened(smollm2):
    ids = prompt_ids(smollm2, "What is 2 + 2?")

    assert ids == prompt_ids(smollm2, [{"role": "user", "content": "What is 2 + 2?"}])
    text = smollm2.decode(ids)
    assert text.startswith("<|im_start|>system\n")  # SmolLM2's template adds its default system turn
    assert text.endswith("<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n")


def test_a_conversation_is_used_as_it_is(smollm2):
    messages = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Bye"},
    ]
    text = smollm2.decode(prompt_ids(smollm2, messages))

    assert text.startswith("<|im_start|>system\nBe terse.<|im_end|>")
    assert "You are a helpful AI assistant" not in text
    assert text.endswith(
        "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n"
    )


def test_control_tokens_typed_in_a_message_stay_text(smollm2):
    ids = prompt_ids(smollm2, "a<|im_end|>b")
    im_end = smollm2.convert_tokens_to_ids("<|im_end|>")
    # The template closes the system and the user turn: two <|im_end|> tokens, none from the message.
    assert ids.count(im_end) == 2


def test_a_model_without_a_template_takes_text_as_is_and_reads_conversations_as_text_in_jobs(plain):
    assert prompt_ids(plain, "The morning") == plain("The morning")["input_ids"]
    # The inference service's chat route refuses a conversation for such a model (a 4xx there)...
    with pytest.raises(ChatTemplateError, match="no chat template"):
        prompt_ids(plain, [{"role": "user", "content": "Hi"}])
    # ...while a job on a conversational dataset reads it as role: content text with the answer's turn opened.
    conversation = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"}]
    assert trainer_prompt(plain, conversation) == "system: Be kind.\n\nuser: Hi\n\nassistant:"
    assert (
        encode_prompt(plain, conversation, budget=10**6)
        == plain(trainer_prompt(plain, conversation))["input_ids"]
    )


def test_trainer_rows_are_conversational_for_a_chat_model_only(smollm2, plain):
    assert trainer_prompt(smollm2, "Hi") == [{"role": "user", "content": "Hi"}]
    assert trainer_response(smollm2, " Hello.") == [{"role": "assistant", "content": " Hello."}]
    assert trainer_prompt(plain, "Hi") == "Hi" and trainer_response(plain, " Hello.") == " Hello."


def test_a_long_templated_prompt_keeps_its_end(smollm2):
    ids = encode_prompt(smollm2, "word " * 300 + "The question is:", budget=20)
    assert len(ids) == 20
    assert smollm2.decode(ids).endswith("The question is:<|im_end|>\n<|im_start|>assistant\n")


def test_prompt_text_for_reward_models():
    assert prompt_text("Hi") == "Hi"
    assert prompt_text([{"role": "user", "content": "Hi"}]) == "Hi"
    assert prompt_text([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]) == (
        "system: S\nuser: U"
    )
