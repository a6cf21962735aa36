"""Job parameters: each kind's typed declaration, the one validation pass, and where resolved values come from."""

from __future__ import annotations

import dataclasses

import pytest

from services.core.enums import JobKind, ParamSource
from services.core.errors import InvalidInputError
from services.domain.job_params import (
    DpoParams,
    GenerateComparisonsParams,
    PpoParams,
    describe_kind,
    params_class,
    resolve,
    settable_trl_fields,
)
from services.domain.job_params.kinds import RESERVED_FIELDS, SCHEDULE_DEFAULTS
from services.domain.job_params.resolution import SOURCES_KEY


@pytest.mark.parametrize("kind", list(JobKind))
def test_every_kind_declares_help_for_each_param_and_shadows_no_trl_field(kind: JobKind):
    cls = params_class(kind)
    own = {field.name for field in dataclasses.fields(cls)}

    assert all(field.metadata.get("help") for field in dataclasses.fields(cls))
    assert not own & set(settable_trl_fields(kind)), "an own param with a TRL field's name is ambiguous"


@pytest.mark.parametrize("kind", [kind for kind in JobKind if params_class(kind).TRL_CONFIG])
def test_kind_and_platform_defaults_are_fields_of_the_kinds_trl_config(kind: JobKind):
    defaults = {**SCHEDULE_DEFAULTS, **params_class(kind).TRL_DEFAULTS}

    assert set(defaults) <= set(settable_trl_fields(kind))
    assert not set(defaults) & RESERVED_FIELDS


def test_resolve_layers_explicit_over_kind_over_platform_and_records_each_source():
    resolved = resolve("ppo", {"learning_rate": 3e-4, "num_train_epochs": 2, "eval_samples_per_prompt": 2})

    assert isinstance(resolved.own, PpoParams) and resolved.own.eval_samples_per_prompt == 2
    assert resolved.own.eval_fraction == 0.1
    assert resolved.trl["learning_rate"] == 3e-4 and resolved.trl["kl_coef"] == 0.05
    assert resolved.trl["lr_scheduler_type"] == "cosine_with_min_lr" and resolved.trl["num_train_epochs"] == 2
    assert resolved.sources["learning_rate"] == ParamSource.EXPLICIT
    assert resolved.sources["kl_coef"] == ParamSource.KIND
    assert resolved.sources["lr_scheduler_type"] == ParamSource.PLATFORM
    assert resolved.sources["eval_samples_per_prompt"] == ParamSource.EXPLICIT
    assert resolved.sources["eval_fraction"] == ParamSource.KIND


def test_record_names_trl_defaults_and_the_workers_platform_fields():
    resolved = resolve("sft", {"learning_rate": 1e-3})

    record = resolved.record(
        {"learning_rate": 1e-3, "seed": 42, "use_cpu": True}, platform=frozenset({"use_cpu"})
    )

    assert record["learning_rate"] == 1e-3 and record["seed"] == 42 and record["eval_fraction"] == 0.1
    assert record[SOURCES_KEY]["learning_rate"] == "explicit"
    assert record[SOURCES_KEY]["seed"] == "trl"
    assert record[SOURCES_KEY]["use_cpu"] == "platform"
    assert record[SOURCES_KEY]["weight_decay"] == "kind"


def test_resolve_gives_typed_values_with_json_numbers_converted():
    own = resolve(
        "generate_comparisons", {"temperature": 1, "num_prompts": 3, "other_policy_version_id": 2}
    ).own

    assert isinstance(own, GenerateComparisonsParams)
    assert own.temperature == 1.0 and isinstance(own.temperature, float) and own.num_prompts == 3
    assert own.max_new_tokens == 64 and own.top_k == 0


def test_nested_lora_params_become_an_object_with_defaults():
    own = resolve("dpo", {"lora": {"r": 4, "target_modules": ["c_attn"]}}).own

    assert isinstance(own, DpoParams)
    lora = own.lora
    assert lora is not None and (lora.r, lora.alpha, lora.dropout, lora.target_modules) == (
        4,
        16,
        0.05,
        ["c_attn"],
    )


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("generate_comparisons", {"max_new_tokens": 0}, "params.max_new_tokens must be >= 1 and <= 2048"),
        ("generate_comparisons", {"temperature": 0}, "params.temperature must be > 0"),
        ("generate_comparisons", {"top_p": 1.5}, "params.top_p must be > 0 and <= 1"),
        ("generate_comparisons", {"num_processes": 2}, "unknown parameter params.num_processes"),
        ("ppo", {"eval_fraction": 0}, "params.eval_fraction must be > 0 and < 1"),
        ("sft", {"eval_fraction": 1}, "params.eval_fraction must be >= 0 and < 1"),
        ("reward_model", {"num_processes": 65}, "params.num_processes must be >= 1 and <= 64"),
        ("reward_model", {"policy_version_id": 1}, "unknown parameter params.policy_version_id"),
        ("sft", {"policy_version_id": 10**30}, "params.policy_version_id must be >= 1"),
        ("sft", {"policy_version_id": True}, "params.policy_version_id must be int or null"),
        ("sft", {"trainable": []}, "non-empty list"),
        ("sft", {"trainable": ["transformer", 3]}, "params.trainable must be a list of strings"),
        ("sft", {"lora": {"r": 0}}, "params.lora.r must be >= 1"),
        ("sft", {"lora": {"bias": "some"}}, "params.lora.bias must be one of none, all, lora_only"),
        ("sft", {"lora": "big"}, "params.lora must be dict or null"),
        ("dpo", {"report_to": "wandb"}, "set by the platform"),
    ],
)
def test_resolve_refuses_bad_params_naming_the_param(kind: str, params: dict, message: str):
    with pytest.raises(InvalidInputError) as refused:
        resolve(kind, params)

    assert message in refused.value.message


def test_describe_kind_lists_own_params_with_defaults_bounds_and_the_trl_config():
    described = describe_kind("reward_model")
    by_name = {param.name: param for param in described.params}

    assert described.trl_config == "RewardConfig" and described.trl_defaults["learning_rate"] == 3e-5
    assert by_name["probe_epochs"].default == 1.0 and by_name["probe_epochs"].bounds == {"ge": 0}
    assert by_name["eval_fraction"].types == ("float",) and by_name["eval_fraction"].help
    assert [field.name for field in by_name["lora"].fields][:3] == ["r", "alpha", "dropout"]
    assert describe_kind("generate_comparisons").trl_config is None
