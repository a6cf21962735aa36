"""Each job kind's own parameters and its defaults for TRL config fields: everything a kind takes, in one place.

The job module of the same name in training_jobs/ receives an instance (`ctx.params`), resolved and checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Literal

from services.core.enums import DatasetKind, JobKind
from services.core.inputs import MAX_ID
from services.domain.job_params.ai_feedback import AiFeedbackParams
from services.domain.job_params.fields import (
    JobParams,
    TrainingParams,
    VoteTrainingParams,
    param,
    version_id,
)

POLICY_VERSION_HELP = (
    "start from this policy version (default: the job's base_model, else the promoted policy, else "
    "RLHF_POLICY_MODEL)"
)
REWARD_VERSION_HELP = "the reward model version to optimise against (default: the reward named by `reward`)"
REWARD_HELP = (
    "the named reward to optimise (POST /api/v1/rewards; its newest version), instead of "
    "reward_model_version_id (default: `default`, the promoted reward model unless a reward named default "
    "was created since)"
)

# The platform's defaults for every TRL trainer, below each kind's own: Llama 2's schedule (Touvron et al.
# 2023, §3.2.2): cosine decay to 10 % of the peak learning rate after a short warm-up, one epoch.
SCHEDULE_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "num_train_epochs": 1,
        "lr_scheduler_type": "cosine_with_min_lr",
        "lr_scheduler_kwargs": {"min_lr_rate": 0.1},
        # transformers 5 folded warmup_ratio into warmup_steps: a value below 1 is a fraction of the steps.
        "warmup_steps": 0.03,
    }
)

# TRL fields the platform sets itself: where checkpoints go, where metrics are reported, hub uploads.
RESERVED_FIELDS = frozenset(
    {
        "output_dir",
        "logging_dir",
        "report_to",
        "push_to_hub",
        "hub_model_id",
        "hub_token",
        "hub_strategy",
        "hub_private_repo",
        "resume_from_checkpoint",
        "overwrite_output_dir",
    }
)


@dataclass(frozen=True, kw_only=True)
class RewardModelParams(VoteTrainingParams):
    """reward_model: a Bradley-Terry reward model from the dataset's preferences (TRL's RewardTrainer), trained
    LP-FT: first the head alone on the frozen encoder (the probe), then everything."""

    TRL_CONFIG: ClassVar[str | None] = "RewardConfig"
    # Tuned on MiniLM (22M) with ETHICS utilitarianism (benchmarks/reward_quality.py).
    TRL_DEFAULTS: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {
            "learning_rate": 3e-5,
            "num_train_epochs": 1,
            "per_device_train_batch_size": 32,
            "max_length": 512,
            "weight_decay": 0.01,
            # Batches of pairs of similar length: each batch pads to its longest row, so on short texts this
            # cuts the padded tokens (and the time). The sampler reads the "length" column, which column
            # pruning would remove; the preference collator ignores it.
            "train_sampling_strategy": "group_by_length",
            "remove_unused_columns": False,
        }
    )
    DEFAULT_BASE_MODEL: ClassVar[str] = "sentence-transformers/all-MiniLM-L6-v2"

    probe_epochs: float = param(1.0, ge=0, help="epochs of the head-only phase (0 skips it)")
    probe_learning_rate: float = param(1e-3, gt=0, help="learning rate of the head-only phase")


@dataclass(frozen=True, kw_only=True)
class ClassifierParams(TrainingParams):
    """classifier: a sequence classifier fine-tuned on a labelled dataset's {"text", "label"} rows (transformers'
    Trainer), one output per distinct label, LP-FT as reward_model. Its version is a reward model: the logit, log-probability or
    probability of `label` given the response alone."""

    TRL_CONFIG: ClassVar[str | None] = "TrainingArguments"
    DATASET_KINDS: ClassVar[frozenset[DatasetKind]] = frozenset({DatasetKind.LABELLED})
    # Fine-tuning an encoder on a few thousand texts (Devlin et al. 2019: lr 2e-5 to 5e-5, batch 16 or 32);
    # tuned on MiniLM with the movie-review polarity data (benchmarks/ppo_gain.py --reward classifier).
    TRL_DEFAULTS: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {
            "learning_rate": 5e-5,
            "num_train_epochs": 2,
            "per_device_train_batch_size": 16,
            "weight_decay": 0.01,
        }
    )
    DEFAULT_BASE_MODEL: ClassVar[str] = "sentence-transformers/all-MiniLM-L6-v2"

    label: str | int | bool | None = param(
        None,
        help="the label whose score is the reward: one of the dataset's labels (its value or name); required",
    )
    transform: Literal["logit", "logprob", "prob"] = param(
        "logit", help="the reward: the label's logit, its log-probability or its probability"
    )
    max_length: int = param(256, ge=8, le=8192, help="longest text in tokens (longer texts keep their start)")
    probe_epochs: float = param(1.0, ge=0, help="epochs of the head-only phase (0 skips it)")
    probe_learning_rate: float = param(1e-3, gt=0, help="learning rate of the head-only phase")


@dataclass(frozen=True, kw_only=True)
class SftParams(VoteTrainingParams):
    """sft: supervised fine-tuning of a policy on a demonstration dataset, or on the chosen responses of a
    preference dataset's decided comparisons."""

    TRL_CONFIG: ClassVar[str | None] = "SFTConfig"
    DATASET_KINDS: ClassVar[frozenset[DatasetKind]] = frozenset(
        {DatasetKind.DEMONSTRATION, DatasetKind.PREFERENCE}
    )
    # Llama 2's SFT recipe (Touvron et al. 2023, §3.1) scaled down: lr 2e-5, weight decay 0.1.
    TRL_DEFAULTS: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {"learning_rate": 2e-5, "weight_decay": 0.1, "per_device_train_batch_size": 8, "max_length": 1024}
    )

    policy_version_id: int | None = version_id(POLICY_VERSION_HELP)


@dataclass(frozen=True, kw_only=True)
class DpoParams(VoteTrainingParams):
    """dpo: a policy straight from the preferences, no reward model (TRL's DPOTrainer)."""

    TRL_CONFIG: ClassVar[str | None] = "DPOConfig"
    TRL_DEFAULTS: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {"learning_rate": 1e-6, "per_device_train_batch_size": 8, "max_length": 1024}  # the DPO paper's rate
    )

    policy_version_id: int | None = version_id(POLICY_VERSION_HELP)


@dataclass(frozen=True, kw_only=True)
class OnlineRLParams(TrainingParams):
    """What ppo, rloo, grpo and rejection_sampling share: a policy, a reward, and a held-out evaluation before
    and after; prompts from a prompt dataset or a preference dataset's comparisons."""

    DATASET_KINDS: ClassVar[frozenset[DatasetKind]] = frozenset({DatasetKind.PROMPT, DatasetKind.PREFERENCE})

    eval_fraction: float = param(
        0.1, gt=0, lt=1, help="share of the prompts held out, sampled before and after training"
    )
    eval_samples_per_prompt: int = param(4, ge=1, le=64, help="responses sampled per held-out prompt")
    policy_version_id: int | None = version_id(POLICY_VERSION_HELP)
    reward_model_version_id: int | None = version_id(REWARD_VERSION_HELP)
    reward: str | None = param(None, help=REWARD_HELP)

    def check(self) -> str | None:
        if self.reward is not None and self.reward_model_version_id is not None:
            return "params.reward and params.reward_model_version_id are alternatives: give one of them"
        return super().check()


@dataclass(frozen=True, kw_only=True)
class PpoParams(OnlineRLParams):
    """ppo: a policy tuned against a reward model with TRL 1.12's PPOTrainer (KL-penalised).

    The defaults suit policies of 100M parameters and more; the built-in tiny-gpt2 (0.7M) gets a larger step
    from its per-base-model defaults (presets.py).
    """

    TRL_CONFIG: ClassVar[str | None] = "PPOConfig"
    TRL_DEFAULTS: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {
            "learning_rate": 1e-5,
            "per_device_train_batch_size": 16,
            "num_mini_batches": 1,
            "num_ppo_epochs": 4,
            "response_length": 48,
            "stop_token": "eos",  # responses end where the policy ends them; TRL's default samples past eos
            "kl_coef": 0.05,
            "num_sample_generations": 0,  # TRL's sample tables go to stdout; the held-out evaluation replaces them
        }
    )


@dataclass(frozen=True, kw_only=True)
class RlooParams(OnlineRLParams):
    """rloo: a policy tuned against a reward model with TRL's RLOOTrainer (REINFORCE Leave-One-Out)."""

    TRL_CONFIG: ClassVar[str | None] = "RLOOConfig"
    TRL_DEFAULTS: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {
            "learning_rate": 1e-5,
            "num_generations": 4,
            "per_device_train_batch_size": 16,  # 4 prompts × 4 generations
            "max_completion_length": 48,
            "disable_dropout": True,  # dropout makes the sampled and the scored log-probabilities disagree
        }
    )


@dataclass(frozen=True, kw_only=True)
class GrpoParams(OnlineRLParams):
    """grpo: a policy tuned against a reward with TRL's GRPOTrainer (Group Relative Policy Optimization, Shao
    et al. 2024): `num_generations` samples per prompt, each one's advantage its reward against the group's
    mean (scaled by the group's std), with a KL penalty (beta) to the starting policy."""

    TRL_CONFIG: ClassVar[str | None] = "GRPOConfig"
    TRL_DEFAULTS: ClassVar[Mapping[str, Any]] = MappingProxyType(
        {
            "learning_rate": 1e-5,
            "num_generations": 4,
            "per_device_train_batch_size": 16,  # 4 prompts × 4 generations
            "max_completion_length": 48,
            # DeepSeekMath's KL coefficient (TRL's default is 0: no reference model); the job reports the KL
            # to the starting policy either way.
            "beta": 0.04,
            "disable_dropout": True,  # dropout makes the sampled and the scored log-probabilities disagree
        }
    )


@dataclass(frozen=True, kw_only=True)
class RejectionSamplingParams(OnlineRLParams):
    """rejection_sampling: Llama 2's rejection-sampling fine-tuning (Touvron et al. 2023, §3.2.3): for each
    prompt, sample num_samples responses from the policy, score them with the reward, and fine-tune the policy
    (TRL's SFTTrainer) on the best one; held-out prompts are sampled before and after."""

    TRL_CONFIG: ClassVar[str | None] = "SFTConfig"
    TRL_DEFAULTS: ClassVar[Mapping[str, Any]] = SftParams.TRL_DEFAULTS

    num_samples: int = param(4, ge=2, le=64, help="responses sampled per prompt, of which the best is kept")
    max_new_tokens: int = param(48, ge=1, le=2048, help="longest sampled response, in tokens")
    temperature: float = param(1.0, gt=0, help="sampling temperature of the responses")
    sampling_seed: int = param(0, help="seed of the sampling (the fine-tuning's is SFTConfig's `seed`)")


@dataclass(frozen=True, kw_only=True)
class GenerateComparisonsParams(JobParams):
    """generate_comparisons: new comparisons to judge, sampled from two policies (one response each), or from
    one (two samples per prompt) when asked with allow_self_comparison, for the prompts of a prompt or
    preference dataset; no model version. Sampling runs on one process. The comparisons go to a preference
    dataset."""

    DATASET_KINDS: ClassVar[frozenset[DatasetKind]] = frozenset({DatasetKind.PROMPT, DatasetKind.PREFERENCE})

    policy_version_id: int | None = version_id(POLICY_VERSION_HELP + "; writes response A")
    other_policy_version_id: int | None = version_id(
        "writes response B (required unless allow_self_comparison)"
    )
    allow_self_comparison: bool = param(
        False,
        help="let one policy write both responses (two samples per prompt): a baseline of how much people "
        "prefer one sample to another, not a comparison of two policies",
    )
    target_dataset_id: int | None = param(
        None,
        ge=1,
        le=MAX_ID,
        help="preference dataset the comparisons go to (default: the job's dataset, if a preference one)",
    )
    num_prompts: int | None = param(None, ge=1, help="use the dataset's first N prompts (default: all)")
    max_new_tokens: int = param(64, ge=1, le=2048, help="longest response, in tokens")
    temperature: float = param(1.0, gt=0, help="sampling temperature (responses are sampled)")
    top_p: float = param(1.0, gt=0, le=1, help="nucleus sampling: keep the smallest set of this probability")
    top_k: int = param(0, ge=0, help="keep the k most likely tokens (0: off)")
    seed: int = param(0, help="seed of the sampling")
    batch_size: int = param(16, ge=1, le=1024, help="prompts per generate() call")

    def check(self) -> str | None:
        if self.allow_self_comparison:
            return None
        if self.other_policy_version_id is None:
            return (
                "params.other_policy_version_id is missing: both responses would come from one policy, which "
                "compares it with itself; name the other policy version, or set params.allow_self_comparison "
                "to true to do that on purpose"
            )
        if self.other_policy_version_id == self.policy_version_id:
            return (
                "params.other_policy_version_id is params.policy_version_id: a policy compared with itself; "
                "set params.allow_self_comparison to true to do that on purpose"
            )
        return None


@dataclass(frozen=True, kw_only=True)
class ScoreComparisonsParams(JobParams):
    """score_comparisons: a reward model's margin |r(x, y_a) - r(x, y_b)| on each open comparison of the
    dataset it has not scored yet, the order of uncertainty sampling (docs/quality.md); no model version. The
    collector queues it itself for uncertainty datasets."""

    reward_model_version_id: int | None = version_id(
        REWARD_VERSION_HELP.replace("optimise against", "score with")
    )
    batch_size: int = param(256, ge=1, le=4096, help="comparisons scored and stored per transaction")


PARAMS_BY_KIND: Mapping[JobKind, type[JobParams]] = MappingProxyType(
    {
        JobKind.REWARD_MODEL: RewardModelParams,
        JobKind.PPO: PpoParams,
        JobKind.SFT: SftParams,
        JobKind.DPO: DpoParams,
        JobKind.RLOO: RlooParams,
        JobKind.GENERATE_COMPARISONS: GenerateComparisonsParams,
        JobKind.SCORE_COMPARISONS: ScoreComparisonsParams,
        JobKind.GRPO: GrpoParams,
        JobKind.REJECTION_SAMPLING: RejectionSamplingParams,
        JobKind.CLASSIFIER: ClassifierParams,
        JobKind.AI_FEEDBACK: AiFeedbackParams,
    }
)
