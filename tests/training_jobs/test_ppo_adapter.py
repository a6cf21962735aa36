"""The pieces behind the ppo and rloo jobs, called directly: the cross-tokenizer reward adapter (through TRL's
own get_reward), the value model's starting point, the RLOO reward callable and the held-out evaluation."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from services.modeling.base_models import MINILM, resolve_base_model
from training_jobs import evaluation
from training_jobs.chat_format import encode_prompt
from training_jobs.checkpoints import ModelSource
from training_jobs.group_rl import fit_prompt_text
from training_jobs.reward_adapter import (
    PolicyTokenRewardModel,
    RewardScorer,
    load_reward_scorer,
    reward_function,
    value_model,
)


@pytest.fixture(scope="module")
def minilm_scorer() -> RewardScorer:
    return load_reward_scorer(ModelSource(resolve_base_model(MINILM), "minilm", None))


@pytest.fixture(scope="module")
def policy_tokenizer(tiny_gpt2: Path):
    return AutoTokenizer.from_pretrained(tiny_gpt2)


def trl_batch(tokenizer, prompts: list[str], responses: list[list[int]]) -> tuple[torch.Tensor, int]:
    """Query+response ids as TRL's PPO builds them: queries left-padded, responses right-padded, pad ids."""
    pad = tokenizer.pad_token_id
    queries = [tokenizer(prompt)["input_ids"] for prompt in prompts]
    context = max(len(ids) for ids in queries)
    width = max(len(ids) for ids in responses)
    rows = [
        [pad] * (context - len(q)) + q + r + [pad] * (width - len(r))
        for q, r in zip(queries, responses, strict=True)
    ]
    return torch.tensor(rows), context


def trl_scores(adapter: PolicyTokenRewardModel, query_responses: torch.Tensor, pad_id: int, context: int):
    """The scores TRL's PPO reads from a reward model (trl.experimental.utils.get_reward)."""
    from trl.experimental.utils import get_reward

    return get_reward(adapter, query_responses, pad_id, context)[1]


def test_adapter_scores_policy_ids_with_the_reward_models_own_tokenizer(minilm_scorer, policy_tokenizer):
    tokenizer = policy_tokenizer
    prompts = ["Describe your day:", "Tell me, in a few words, how your day went:"]
    texts = [" It was a warm sunny morning.", " Cold."]
    responses = [
        tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for text in texts
    ]
    known = {tuple(tokenizer(prompt)["input_ids"]): prompt for prompt in prompts}
    query_responses, context = trl_batch(tokenizer, prompts, responses)

    scores = trl_scores(
        PolicyTokenRewardModel(minilm_scorer, tokenizer, known),
        query_responses,
        tokenizer.pad_token_id,
        context,
    )

    decoded = [tokenizer.decode(ids, skip_special_tokens=True) for ids in responses]
    assert decoded == texts
    assert minilm_scorer.tokenizer.get_vocab() != tokenizer.get_vocab()  # truly another tokenizer
    assert torch.allclose(scores, torch.tensor(minilm_scorer(prompts, texts)), atol=1e-4)


def test_adapter_finds_the_prompt_end_when_one_prompt_extends_another(minilm_scorer, policy_tokenizer):
    tokenizer = policy_tokenizer
    short, long = "The film", "The film is"
    assert tokenizer(long)["input_ids"][: len(tokenizer(short)["input_ids"])] == tokenizer(short)["input_ids"]
    known = {tuple(tokenizer(prompt)["input_ids"]): prompt for prompt in (short, long)}
    # The short prompt's response starts with the long prompt's extra token: only the batch disambiguates.
    texts = [" is great", " bad"]
    responses = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    query_responses, context = trl_batch(tokenizer, [short, long], responses)

    scores = trl_scores(
        PolicyTokenRewardModel(minilm_scorer, tokenizer, known),
        query_responses,
        tokenizer.pad_token_id,
        context,
    )

    assert torch.allclose(scores, torch.tensor(minilm_scorer([short, long], texts)), atol=1e-4)


def test_adapter_rejects_a_row_that_starts_with_no_known_prompt(minilm_scorer, policy_tokenizer):
    tokenizer = policy_tokenizer
    known = {tuple(tokenizer("Describe your day:")["input_ids"]): "Describe your day:"}
    query_responses, context = trl_batch(tokenizer, ["Something else entirely:"], [[tokenizer.eos_token_id]])
    with pytest.raises(RuntimeError, match="does not start with one of the job's prompts"):
        trl_scores(
            PolicyTokenRewardModel(minilm_scorer, tokenizer, known),
            query_responses,
            tokenizer.pad_token_id,
            context,
        )


def test_value_model_starts_from_the_policy_when_the_reward_model_reads_other_ids(
    minilm_scorer, policy_tokenizer, tiny_gpt2: Path
):
    critic = value_model(str(tiny_gpt2), policy_tokenizer, minilm_scorer)

    policy: Any = AutoModelForCausalLM.from_pretrained(tiny_gpt2)
    assert type(critic).__name__ == "GPT2ForSequenceClassification" and critic.score.out_features == 1
    assert torch.equal(critic.transformer.h[0].attn.c_attn.weight, policy.transformer.h[0].attn.c_attn.weight)
    assert critic.config.pad_token_id == policy_tokenizer.pad_token_id


def test_value_model_starts_from_the_reward_model_when_it_reads_the_policy_ids(
    policy_tokenizer, tiny_gpt2: Path, tmp_path: Path
):
    torch.manual_seed(0)
    reward = AutoModelForSequenceClassification.from_pretrained(tiny_gpt2, num_labels=1)
    reward.config.pad_token_id = policy_tokenizer.pad_token_id
    reward.save_pretrained(tmp_path)
    policy_tokenizer.save_pretrained(tmp_path)
    scorer = load_reward_scorer(ModelSource(str(tmp_path), "gpt2-reward", None))

    critic = value_model(str(tiny_gpt2), policy_tokenizer, scorer)

    assert torch.equal(critic.score.weight, reward.score.weight)
    assert critic is not scorer.model  # PPO trains the critic; the reward model stays frozen


def test_rloo_reward_scores_the_full_prompt_when_given(minilm_scorer):
    reward = reward_function(minilm_scorer)
    completions = [" It was lovely.", " It was awful."]
    full = ["A long preamble that the policy never saw. Describe your day:"] * 2

    assert reward(["Describe your day:"] * 2, completions, [[1], [2]], reward_prompt=full) == pytest.approx(
        minilm_scorer(full, completions)
    )
    assert reward(["Describe your day:"] * 2, completions, [[1], [2]]) == pytest.approx(
        minilm_scorer(["Describe your day:"] * 2, completions)
    )


def test_long_prompts_keep_their_end(policy_tokenizer):
    prompt = "word " * 300 + "The question is:"
    ids = encode_prompt(policy_tokenizer, prompt, budget=20)
    text = fit_prompt_text(policy_tokenizer, prompt, budget=20)
    assert len(ids) == 20 and policy_tokenizer.decode(ids).endswith("The question is:")
    assert len(policy_tokenizer(text)["input_ids"]) <= 20 and text.endswith("The question is:")


def test_evaluation_kl_is_zero_to_itself_and_positive_to_another_model(minilm_scorer, tiny_gpt2: Path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_gpt2)
    policy = AutoModelForCausalLM.from_pretrained(tiny_gpt2)
    other = copy.deepcopy(policy)
    with torch.no_grad():
        other.lm_head.weight.add_(0.5 * torch.randn_like(other.lm_head.weight))
    prompts = ["Describe your day:", "What did you eat today?"]
    query_ids = [tokenizer(prompt)["input_ids"] for prompt in prompts]
    sampling = evaluation.Sampling(
        max_new_tokens=12, temperature=0.7, stop_token_id=tokenizer.eos_token_id, samples_per_prompt=3
    )

    itself = evaluation.evaluate(
        policy, tokenizer, prompts, query_ids, minilm_scorer, sampling, reference=copy.deepcopy(policy)
    )
    again = evaluation.evaluate(
        policy, tokenizer, prompts, query_ids, minilm_scorer, sampling, reference=other
    )

    assert len(itself.rewards) == 6 and itself.kls is not None and max(abs(kl) for kl in itself.kls) < 1e-4
    assert again.responses == itself.responses  # same seed, same policy: the same samples
    assert again.kl_mean is not None and again.kl_mean > 0.1
    assert itself.rewards == pytest.approx(minilm_scorer(itself.prompts, itself.responses), abs=1e-4)


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.helpers.tiny_models import build_tiny_llama

    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


def test_adapter_scores_templated_llama_prompts_as_their_text(minilm_scorer, tiny_llama: Path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    tokenizer.padding_side = "left"
    prompts = ["Describe your day:", "How was the film?"]
    queries = [encode_prompt(tokenizer, prompt, budget=200) for prompt in prompts]
    texts = [" It was a warm sunny morning.", " Dull."]
    responses = [
        tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id] for text in texts
    ]
    pad = tokenizer.pad_token_id
    context = max(len(q) for q in queries)
    width = max(len(r) for r in responses)
    rows = [
        [pad] * (context - len(q)) + q + r + [pad] * (width - len(r))
        for q, r in zip(queries, responses, strict=True)
    ]
    known = {tuple(ids): prompt for ids, prompt in zip(queries, prompts, strict=True)}

    scores = trl_scores(
        PolicyTokenRewardModel(minilm_scorer, tokenizer, known), torch.tensor(rows), pad, context
    )

    assert str(tokenizer.decode(queries[0])).endswith("<|im_start|>assistant\n")
    assert torch.allclose(scores, torch.tensor(minilm_scorer(prompts, texts)), atol=1e-4)


def test_value_model_of_a_llama_policy_is_a_llama_classifier(minilm_scorer, tiny_llama: Path):
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama)
    critic = value_model(str(tiny_llama), tokenizer, minilm_scorer)

    assert type(critic).__name__ == "LlamaForSequenceClassification" and critic.score.out_features == 1
    assert critic.config.pad_token_id == tokenizer.pad_token_id != tokenizer.eos_token_id
    assert next(critic.parameters()).dtype == torch.float32  # the critic trains in full
