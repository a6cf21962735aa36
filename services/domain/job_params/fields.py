"""How a job kind declares its own parameters: a frozen dataclass whose fields carry a default, a type, bounds
and help text (`metadata`), as TRL's `*Config` classes do. The validation pass (resolution.py), the API's
schema (GET /api/v1/job-kinds) and `rlhf train KIND --help` all read these declarations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from services.core.enums import DatasetKind, SourceFilter
from services.core.inputs import MAX_ID

BOUNDS = ("ge", "gt", "le", "lt")


def param(
    default: Any = None,
    *,
    help: str,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
) -> Any:
    """A parameter: its default, its help text and its bounds (inclusive ge/le, exclusive gt/lt)."""
    bounds = {
        name: value for name, value in (("ge", ge), ("gt", gt), ("le", le), ("lt", lt)) if value is not None
    }
    return dataclasses.field(default=default, metadata={"help": help, **bounds})


def version_id(help: str) -> Any:
    """A model version id (the version must exist and be of the right kind: services/domain/jobs.py checks)."""
    return param(None, ge=1, le=MAX_ID, help=help)


@dataclass(frozen=True, kw_only=True)
class Params:
    """Typed parameters; `check` holds the rules that tie several fields together."""

    def check(self) -> str | None:
        """None, or why the combination of values is refused."""
        return None


@dataclass(frozen=True, kw_only=True)
class LoraParams(Params):
    """`params.lora`: train LoRA adapters (peft), merged into the saved model, instead of every weight."""

    r: int = param(8, ge=1, help="rank of the adapters")
    alpha: int = param(16, ge=1, help="scaling: the update is multiplied by alpha / r")
    dropout: float = param(0.05, ge=0, lt=1, help="dropout on the adapters' input")
    target_modules: list[str] | str | None = param(
        None,
        help="module names to adapt (default: peft's choice for the architecture, e.g. c_attn for GPT-2)",
    )
    modules_to_save: list[str] | None = param(None, help="modules trained in full beside the adapters")
    bias: Literal["none", "all", "lora_only"] = param("none", help="which biases train")


@dataclass(frozen=True, kw_only=True)
class JobParams(Params):
    """A job kind's own parameters. TRL_CONFIG names the TRL config whose fields `params` may set as well (by
    their TRL names); TRL_DEFAULTS are the kind's defaults for some of them. DATASET_KINDS: the kinds of
    dataset the job reads (services/domain/jobs.py refuses others)."""

    TRL_CONFIG: ClassVar[str | None] = None
    TRL_DEFAULTS: ClassVar[Mapping[str, Any]] = {}
    DATASET_KINDS: ClassVar[frozenset[DatasetKind]] = frozenset({DatasetKind.PREFERENCE})
    # Params that exclude each other: one set by a stronger layer drops the other's value from weaker layers.
    ALTERNATIVES: ClassVar[Mapping[str, tuple[str, ...]]] = {}

    recipe: str | None = param(
        None, help="a named bundle of params, over the base model's and the kind's defaults (see Recipes)"
    )


@dataclass(frozen=True, kw_only=True)
class TrainingParams(JobParams):
    """What every training kind (a TRL trainer and a new model version) understands."""

    ALTERNATIVES: ClassVar[Mapping[str, tuple[str, ...]]] = {"lora": ("trainable",), "trainable": ("lora",)}

    eval_fraction: float = param(
        0.1,
        ge=0,
        lt=1,
        help="share of the data held out for evaluation (by content hash: stable as data grows)",
    )
    lora: LoraParams | None = param(
        None, help="train LoRA adapters instead of every weight: {r, alpha, dropout, target_modules, ...}"
    )
    trainable: list[str] | None = param(
        None, help="train only parameters whose names start with one of these prefixes (heads always train)"
    )
    min_warmup_steps: int = param(
        0,
        ge=0,
        help="at least this many warm-up steps, whatever warmup_steps gives (Llama 2: 3 % of the steps, at "
        "least 5)",
    )
    num_processes: int = param(
        1,
        ge=1,
        le=64,
        help="> 1 runs the trainer under accelerate launch: DDP on the node's GPUs (gloo on CPU), or "
        "DeepSpeed/FSDP from RLHF_ACCELERATE_CONFIG_FILE",
    )
    profile_steps: int = param(
        0,
        ge=0,
        le=100,
        help="profile this many training steps (after one of warm-up) with torch.profiler: where a step's time "
        "goes, in the log and in profile.json and profile.txt beside the new version's weights",
    )

    def check(self) -> str | None:
        if self.lora is not None and self.trainable is not None:
            return "params.lora and params.trainable are alternatives: give one of them"
        if self.trainable is not None and (not self.trainable or not all(self.trainable)):
            return "params.trainable must be a non-empty list of parameter name prefixes"
        return None


@dataclass(frozen=True, kw_only=True)
class VoteTrainingParams(TrainingParams):
    """What every kind that trains on the dataset's votes (reward_model, sft, dpo) understands."""

    min_trust: float | None = param(
        None,
        ge=0,
        le=1,
        help="leave out the votes of annotators whose trust on the dataset is below this (docs/quality.md); "
        "null: every vote",
    )
    source: SourceFilter = param(
        SourceFilter.HUMAN,
        help="whose preferences to train on: human (people and imported winners), ai (ai_feedback judges' "
        "preferences, docs/ai-feedback.md) or all",
    )
