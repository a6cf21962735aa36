"""The two named layers between a job's explicit params and its kind's defaults: recipes (`params.recipe`, a
named bundle the user picks) and per-base-model defaults (picked by the model the job starts from).

Precedence, one rule for every kind: explicit params > recipe > per-base-model defaults > the kind's defaults
(kinds.py) > the platform's > TRL's. Each entry is a kind's params as a user would write them (own params and
TRL fields by their TRL names); resolution.py checks them with the same pass as explicit params.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from services.core.enums import JobKind

Preset = Mapping[JobKind, Mapping[str, Any]]

# Measured with benchmarks/ppo_gain.py (README "Benchmarks"): with these, `rlhf train ppo` and `rlhf train rloo`
# without params raised the built-in 0.7M-parameter policy's held-out reward by +1.17 σ and +0.79 σ, both 95 %
# intervals above 0 (the kinds' own defaults, which suit 100M+ models: +0.15 σ for ppo).
TINY_GPT2: Preset = MappingProxyType(
    {
        JobKind.PPO: {"learning_rate": 1e-4, "kl_coef": 0.1, "total_episodes": 480},
        JobKind.RLOO: {"learning_rate": 3e-4, "max_steps": 60},
    }
)

# SmolLM2-135M-Instruct: LoRA on every linear layer (TRL's "LoRA Without Regret" guide: all-linear adapters
# match full fine-tuning at about 10× its learning rate). Chosen from that guide and the kinds' full
# fine-tuning rates, NOT yet measured on this branch.
SMOLLM2_LORA = {"r": 16, "alpha": 32, "target_modules": "all-linear"}
SMOLLM2_135M_INSTRUCT: Preset = MappingProxyType(
    {
        JobKind.SFT: {"lora": SMOLLM2_LORA, "learning_rate": 2e-4},
        JobKind.DPO: {"lora": SMOLLM2_LORA, "learning_rate": 1e-5},
        JobKind.PPO: {"lora": SMOLLM2_LORA, "learning_rate": 1e-4, "per_device_train_batch_size": 8},
        JobKind.RLOO: {"lora": SMOLLM2_LORA, "learning_rate": 1e-4, "per_device_train_batch_size": 8},
    }
)

BASE_MODEL_DEFAULTS: Mapping[str, Preset] = MappingProxyType(
    {
        "builtin:tiny-gpt2": TINY_GPT2,
        "builtin:smollm2-135m-instruct": SMOLLM2_135M_INSTRUCT,
    }
)

# `params.recipe`: named bundles. `smoke` runs the whole job on a handful of steps, to check a dataset and a
# model together before a real run (its metrics mean little: its held-out evaluation is tiny).
RECIPES: Mapping[str, Preset] = MappingProxyType(
    {
        "smoke": MappingProxyType(
            {
                JobKind.REWARD_MODEL: {"max_steps": 2, "probe_epochs": 0.0},
                JobKind.CLASSIFIER: {"max_steps": 2, "probe_epochs": 0.0},
                JobKind.SFT: {"max_steps": 2},
                JobKind.DPO: {"max_steps": 2},
                JobKind.PPO: {
                    "total_episodes": 16,
                    "per_device_train_batch_size": 8,
                    "eval_samples_per_prompt": 1,
                },
                JobKind.RLOO: {"max_steps": 2, "eval_samples_per_prompt": 1},
                JobKind.GENERATE_COMPARISONS: {"num_prompts": 4, "max_new_tokens": 16},
            }
        ),
    }
)


def recipe_names(kind: JobKind) -> list[str]:
    return sorted(name for name, preset in RECIPES.items() if kind in preset)


def recipe_values(kind: JobKind, name: str) -> Mapping[str, Any]:
    return RECIPES[name][kind]


def base_model_values(kind: JobKind, base_model: str | None) -> Mapping[str, Any]:
    """The per-base-model defaults for a kind ({} for a model without an entry)."""
    if base_model is None:
        return {}
    return BASE_MODEL_DEFAULTS.get(base_model, {}).get(kind, {})


def base_models_for(kind: JobKind) -> dict[str, dict[str, Any]]:
    """Per-base-model defaults of one kind, by base model name (GET /api/v1/job-kinds, `rlhf train --help`)."""
    return {name: dict(preset[kind]) for name, preset in BASE_MODEL_DEFAULTS.items() if kind in preset}


def recipes_for(kind: JobKind) -> dict[str, dict[str, Any]]:
    return {name: dict(recipe_values(kind, name)) for name in recipe_names(kind)}
