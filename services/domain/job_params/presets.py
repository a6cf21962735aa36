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

# Measured with benchmarks/ppo_gain.py (README "Benchmarks"): with these, `rlhf train ppo`, `rlhf train rloo` and
# `rlhf train grpo` without params raised the built-in 0.7M-parameter policy's held-out reward by +1.17 σ, +0.79 σ
# and +0.64 σ, each 95 % interval above 0 (the kinds' own defaults, which suit 100M+ models: +0.15 σ for ppo).
TINY_GPT2: Preset = MappingProxyType(
    {
        JobKind.PPO: {"learning_rate": 1e-4, "kl_coef": 0.1, "total_episodes": 480},
        JobKind.RLOO: {"learning_rate": 3e-4, "max_steps": 60},
        JobKind.GRPO: {"learning_rate": 3e-4, "max_steps": 60},
    }
)

# SmolLM2-135M-Instruct: LoRA on every linear layer (TRL's "LoRA Without Regret" guide: all-linear adapters
# match full fine-tuning at about 10× its learning rate). PPO and RLOO are sized for the 45-minute budget on
# two quiet CPU cores, where a PPO step of 8 episodes costs about a minute: 32 steps, and 2 samples per
# held-out prompt (the held-out evaluation before and after is the other large cost). What they reached is
# in the README's "Benchmarks" (benchmarks/ppo_gain.py --policy builtin:smollm2-135m-instruct).
SMOLLM2_LORA = {"r": 16, "alpha": 32, "target_modules": "all-linear"}
SMOLLM2_135M_INSTRUCT: Preset = MappingProxyType(
    {
        JobKind.SFT: {"lora": SMOLLM2_LORA, "learning_rate": 2e-4},
        JobKind.DPO: {"lora": SMOLLM2_LORA, "learning_rate": 1e-5},
        JobKind.PPO: {
            "lora": SMOLLM2_LORA,
            # 2e-4 with TRL's kl_coef 0.05 gained 3.1 σ but drifted 30 nats from the start (README "Benchmarks").
            "learning_rate": 1e-4,
            "kl_coef": 0.1,
            "per_device_train_batch_size": 8,
            "total_episodes": 256,
            "eval_samples_per_prompt": 2,
        },
        JobKind.RLOO: {
            "lora": SMOLLM2_LORA,
            "learning_rate": 2e-4,
            "per_device_train_batch_size": 8,  # 2 prompts × 4 generations
            "max_steps": 32,
            "eval_samples_per_prompt": 2,
        },
    }
)

BASE_MODEL_DEFAULTS: Mapping[str, Preset] = MappingProxyType(
    {
        "builtin:tiny-gpt2": TINY_GPT2,
        "builtin:smollm2-135m-instruct": SMOLLM2_135M_INSTRUCT,
    }
)

# Llama 2 (Touvron et al. 2023, "Llama 2: Open Foundation and Fine-Tuned Chat Models"), the settings of its
# papers' sections (docs/job-params.md has the table). Batches are the paper's effective batch on one process
# (per_device_train_batch_size × gradient_accumulation_steps; × num_mini_batches for PPO's rollouts).
LLAMA2: Preset = MappingProxyType(
    {
        # §3.2.2 "Training Details": one epoch; max lr 1e-5 (5e-6 for 70B); cosine decay to 10 % of the max; a
        # warm-up of 3 % of the steps, at least 5; 512 pairs per batch. One phase, no head-only probe.
        JobKind.REWARD_MODEL: {
            "num_train_epochs": 1,
            "learning_rate": 1e-5,
            "lr_scheduler_type": "cosine_with_min_lr",
            "lr_scheduler_kwargs": {"min_lr_rate": 0.1},
            "warmup_steps": 0.03,
            "min_warmup_steps": 5,
            "per_device_train_batch_size": 32,
            "gradient_accumulation_steps": 16,
            "probe_epochs": 0.0,
        },
        # §3.1 "Fine-Tuning Details": cosine schedule, initial lr 2e-5, weight decay 0.1, batch 64, 2 epochs.
        JobKind.SFT: {
            "lr_scheduler_type": "cosine",
            "lr_scheduler_kwargs": {},
            "learning_rate": 2e-5,
            "weight_decay": 0.1,
            "num_train_epochs": 2,
            "per_device_train_batch_size": 8,
            "gradient_accumulation_steps": 8,
        },
        # §3.2.3 "Training Details": AdamW β1 0.9, β2 0.95, eps 1e-5; weight decay 0.1; gradient clipping 1.0;
        # constant lr 1e-6; batch 512 of mini-batches of 64, one gradient step per mini-batch; clip 0.2; KL β
        # 0.01 (7B and 13B; 0.005 for 34B and 70B).
        JobKind.PPO: {
            "adam_beta1": 0.9,
            "adam_beta2": 0.95,
            "adam_epsilon": 1e-5,
            "weight_decay": 0.1,
            "max_grad_norm": 1.0,
            "learning_rate": 1e-6,
            "lr_scheduler_type": "constant",
            "lr_scheduler_kwargs": {},
            "warmup_steps": 0,
            "per_device_train_batch_size": 8,
            "gradient_accumulation_steps": 8,
            "num_mini_batches": 8,
            "num_ppo_epochs": 1,
            "cliprange": 0.2,
            "kl_coef": 0.01,
        },
    }
)

# `params.recipe`: named bundles. `llama2`: the paper's settings, above. `smoke` runs the whole job on a handful of steps, to check a dataset and a
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
                JobKind.GRPO: {"max_steps": 2, "eval_samples_per_prompt": 1},
                JobKind.REJECTION_SAMPLING: {"max_steps": 2, "num_samples": 2, "eval_samples_per_prompt": 1},
            }
        ),
        "llama2": LLAMA2,
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
