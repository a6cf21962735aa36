"""Precedence of a job's params, one rule for every kind: explicit > recipe > the base model's defaults > the
kind's > the platform's > TRL's; and where each resolved value came from."""

from __future__ import annotations

import pytest

from services.core.enums import JobKind, ParamSource
from services.core.errors import InvalidInputError
from services.domain.job_params import (
    GenerateComparisonsParams,
    LoraParams,
    PpoParams,
    RewardModelParams,
    SftParams,
    resolve,
)
from services.domain.job_params.presets import BASE_MODEL_DEFAULTS, RECIPES
from services.domain.job_params.resolution import DEFAULTS_KEY, SOURCES_KEY

TINY = "builtin:tiny-gpt2"
SMOLLM2 = "builtin:smollm2-135m-instruct"


@pytest.mark.parametrize(
    ("base_model", "kind"),
    [(name, kind) for name, preset in BASE_MODEL_DEFAULTS.items() for kind in preset],
)
def test_every_base_model_entry_passes_the_checks_explicit_params_get(base_model: str, kind: JobKind):
    resolved = resolve(kind, {}, base_model=base_model)

    for name in BASE_MODEL_DEFAULTS[base_model][kind]:
        assert resolved.sources[name] == ParamSource.BASE_MODEL, name


@pytest.mark.parametrize(
    ("recipe", "kind"), [(name, kind) for name, preset in RECIPES.items() for kind in preset]
)
def test_every_recipe_passes_the_checks_explicit_params_get(recipe: str, kind: JobKind):
    alone = {"allow_self_comparison": True} if kind == JobKind.GENERATE_COMPARISONS else {}
    resolved = resolve(kind, {"recipe": recipe, **alone})

    assert resolved.own.recipe == recipe and resolved.sources["recipe"] == ParamSource.EXPLICIT
    assert all(resolved.sources[name] == ParamSource.RECIPE for name in RECIPES[recipe][kind])


def test_each_layer_wins_over_the_ones_below_it():
    kind_only = resolve("ppo", {})
    base = resolve("ppo", {}, base_model=TINY)
    recipe = resolve("ppo", {"recipe": "smoke"}, base_model=TINY)
    explicit = resolve("ppo", {"recipe": "smoke", "total_episodes": 64, "kl_coef": 0.3}, base_model=TINY)

    assert kind_only.trl["learning_rate"] == 1e-5 and kind_only.sources["learning_rate"] == ParamSource.KIND
    assert "total_episodes" not in kind_only.trl
    assert base.trl["learning_rate"] == 1e-4 and base.sources["learning_rate"] == ParamSource.BASE_MODEL
    assert base.trl["total_episodes"] == 480 and base.sources["total_episodes"] == ParamSource.BASE_MODEL
    assert recipe.trl["total_episodes"] == 16 and recipe.sources["total_episodes"] == ParamSource.RECIPE
    assert isinstance(recipe.own, PpoParams) and recipe.own.eval_samples_per_prompt == 1
    assert recipe.sources["eval_samples_per_prompt"] == ParamSource.RECIPE
    assert recipe.trl["learning_rate"] == 1e-4 and recipe.sources["learning_rate"] == ParamSource.BASE_MODEL
    assert explicit.trl["total_episodes"] == 64 and explicit.sources["total_episodes"] == ParamSource.EXPLICIT
    assert explicit.trl["kl_coef"] == 0.3 and explicit.sources["kl_coef"] == ParamSource.EXPLICIT
    assert explicit.trl["num_ppo_epochs"] == 4 and explicit.sources["num_ppo_epochs"] == ParamSource.KIND
    assert explicit.sources["lr_scheduler_type"] == ParamSource.PLATFORM


def test_a_base_model_without_an_entry_gets_the_kinds_defaults():
    resolved = resolve("ppo", {}, base_model="some/other-model")

    assert resolved.trl["learning_rate"] == 1e-5 and ParamSource.BASE_MODEL not in resolved.sources.values()


def test_job_config_records_each_values_source_and_whose_defaults_applied():
    record = resolve("rloo", {"recipe": "smoke", "beta": 0.2}, base_model=TINY).record(
        {"seed": 42, "use_cpu": True}, platform=frozenset({"use_cpu"})
    )

    sources = record[SOURCES_KEY]
    assert record[DEFAULTS_KEY] == TINY
    assert sources["beta"] == "explicit" and sources["max_steps"] == "recipe" and record["max_steps"] == 2
    assert sources["learning_rate"] == "base_model" and record["learning_rate"] == 3e-4
    assert sources["num_generations"] == "kind" and sources["warmup_steps"] == "platform"
    assert sources["use_cpu"] == "platform" and sources["seed"] == "trl"


def test_smollm2_defaults_turn_lora_on_and_an_explicit_trainable_or_null_turns_it_off():
    default = resolve("ppo", {}, base_model=SMOLLM2)
    trainable = resolve("ppo", {"trainable": ["transformer.h.1"]}, base_model=SMOLLM2)
    off = resolve("sft", {"lora": None}, base_model=SMOLLM2)

    assert isinstance(default.own, PpoParams) and isinstance(trainable.own, PpoParams)
    assert isinstance(off.own, SftParams)
    assert isinstance(default.own.lora, LoraParams) and default.sources["lora"] == ParamSource.BASE_MODEL
    assert default.own.lora.target_modules == "all-linear"
    assert trainable.own.lora is None and trainable.own.trainable == ["transformer.h.1"]
    assert trainable.sources["lora"] == ParamSource.KIND
    assert off.own.lora is None and off.sources["lora"] == ParamSource.EXPLICIT


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        (
            "ppo",
            {"recipe": "fastest"},
            "params.recipe must name a recipe of ppo (known: llama2, smoke), got 'fastest'",
        ),
        ("ppo", {"recipe": 3}, "params.recipe must name a recipe of ppo"),
        ("generate_comparisons", {}, "params.other_policy_version_id is missing"),
        (
            "generate_comparisons",
            {"policy_version_id": 4, "other_policy_version_id": 4},
            "params.other_policy_version_id is params.policy_version_id",
        ),
    ],
)
def test_refused_params_name_the_problem(kind: str, params: dict[str, object], message: str):
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        resolve(kind, params)


def test_a_policy_compared_with_itself_only_when_asked():
    own = resolve("generate_comparisons", {"allow_self_comparison": True}).own

    assert isinstance(own, GenerateComparisonsParams)
    assert own.allow_self_comparison and own.other_policy_version_id is None


def test_llama2_recipe_resolves_to_the_papers_settings_with_their_source():
    reward_model = resolve("reward_model", {"recipe": "llama2"})
    sft = resolve("sft", {"recipe": "llama2"}, base_model=TINY)
    ppo = resolve("ppo", {"recipe": "llama2"}, base_model=TINY)  # over the tiny model's own ppo defaults

    assert isinstance(reward_model.own, RewardModelParams) and reward_model.own.min_warmup_steps == 5
    assert reward_model.trl["learning_rate"] == 1e-5 and reward_model.trl["num_train_epochs"] == 1
    assert reward_model.trl["lr_scheduler_type"] == "cosine_with_min_lr"
    assert reward_model.trl["lr_scheduler_kwargs"] == {"min_lr_rate": 0.1}
    assert reward_model.trl["warmup_steps"] == 0.03
    batch = reward_model.trl["per_device_train_batch_size"] * reward_model.trl["gradient_accumulation_steps"]
    assert batch == 512
    assert all(
        reward_model.sources[name] == ParamSource.RECIPE
        for name in ("learning_rate", "lr_scheduler_type", "warmup_steps", "min_warmup_steps")
    )
    assert sft.trl["lr_scheduler_type"] == "cosine" and sft.trl["lr_scheduler_kwargs"] == {}
    assert (sft.trl["learning_rate"], sft.trl["weight_decay"], sft.trl["num_train_epochs"]) == (2e-5, 0.1, 2)
    assert sft.sources["learning_rate"] == ParamSource.RECIPE
    expected_ppo = {
        "adam_beta1": 0.9,
        "adam_beta2": 0.95,
        "adam_epsilon": 1e-5,
        "weight_decay": 0.1,
        "max_grad_norm": 1.0,
        "learning_rate": 1e-6,
        "lr_scheduler_type": "constant",
        "cliprange": 0.2,
        "kl_coef": 0.01,
        "num_ppo_epochs": 1,
    }
    assert {name: ppo.trl[name] for name in expected_ppo} == expected_ppo
    assert all(ppo.sources[name] == ParamSource.RECIPE for name in expected_ppo)
    rollout = ppo.trl["per_device_train_batch_size"] * ppo.trl["gradient_accumulation_steps"]
    assert rollout == 64 and rollout * ppo.trl["num_mini_batches"] == 512
    assert ppo.trl["total_episodes"] == 480 and ppo.sources["total_episodes"] == ParamSource.BASE_MODEL


def test_explicit_params_override_the_llama2_recipe_and_the_record_names_each_source():
    resolved = resolve(
        "reward_model", {"recipe": "llama2", "learning_rate": 5e-6, "min_warmup_steps": 10}
    )  # the paper's 70B rate

    record = resolved.record()

    assert record["learning_rate"] == 5e-6 and record[SOURCES_KEY]["learning_rate"] == "explicit"
    assert record["min_warmup_steps"] == 10 and record[SOURCES_KEY]["min_warmup_steps"] == "explicit"
    assert record["warmup_steps"] == 0.03 and record[SOURCES_KEY]["warmup_steps"] == "recipe"
    assert record[SOURCES_KEY]["lr_scheduler_kwargs"] == "recipe"


def test_llama2_recipe_covers_reward_model_sft_and_ppo_only():
    with pytest.raises(InvalidInputError, match="params.recipe must name a recipe of dpo"):
        resolve("dpo", {"recipe": "llama2"})
