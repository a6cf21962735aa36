"""The checkpoints a job reads and writes: which model it starts from (a version, a base model, the promoted
one), loading it with readable errors, and saving the new version's model.

Artifacts are always plain Hugging Face model directories (LoRA merged in), loadable with the Auto classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.core.artifacts import version_path
from services.core.db import session_scope
from services.core.enums import ModelKind
from services.core.orm import ModelVersion
from services.core.settings import get_settings
from services.domain import model_versions
from services.modeling.base_models import resolve_base_model
from training_jobs.context import JobContext, JobInputError, is_main_process


@dataclass(frozen=True)
class ModelSource:
    """A model a job starts from."""

    path: str  # what from_pretrained takes
    name: str  # the version name or base model id, to record
    version_id: int | None  # None for a base model


def _version(version_id: int, kind: ModelKind) -> ModelSource:
    with session_scope() as session:
        version = session.get(ModelVersion, version_id)
        if version is None:
            raise JobInputError(f"model version {version_id} does not exist")
        if version.kind != kind:
            raise JobInputError(f"model version {version.name} is a {version.kind} model, not a {kind} model")
        return ModelSource(str(version_path(version.path)), version.name, version.id)


def _promoted(kind: ModelKind) -> ModelSource | None:
    with session_scope() as session:
        version = model_versions.promoted(session, kind)
        if version is None:
            return None
        return ModelSource(str(version_path(version.path)), version.name, version.id)


def base_model_source(name: str) -> ModelSource:
    """A base model by name (services/modeling/base_models.py: the built-in ones, a local path, a hub id)."""
    return ModelSource(resolve_base_model(name), name, None)


def policy_source(ctx: JobContext[Any], version_id: int | None) -> ModelSource:
    """The policy a job starts from: this policy version, else the job's base_model, else the promoted
    policy, else settings.policy_model."""
    if version_id is not None:
        return _version(version_id, ModelKind.POLICY)
    if ctx.base_model:
        return base_model_source(ctx.base_model)
    promoted = _promoted(ModelKind.POLICY)
    if promoted is not None:
        return promoted
    return base_model_source(get_settings().policy_model)


def reward_model_source(version_id: int | None) -> ModelSource:
    """This reward model version, else the promoted one."""
    if version_id is not None:
        return _version(version_id, ModelKind.REWARD)
    promoted = _promoted(ModelKind.REWARD)
    if promoted is None:
        raise JobInputError(
            "no reward model: pass params.reward_model_version_id or promote a reward model version"
        )
    return promoted


def _not_found(name: str, error: Exception) -> JobInputError:
    return JobInputError(
        f"model {name!r} not found: not a local model directory, not in the Hugging Face cache, "
        f"and the hub is unreachable or has no such model ({error})"
    )


def load_tokenizer(name_or_path: str) -> Any:
    """A tokenizer with a pad token (eos when it has none) and an eos token (sep for BERT-like models)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    except OSError as error:
        raise _not_found(name_or_path, error) from error
    if tokenizer.eos_token is None and tokenizer.sep_token is not None:
        # TRL appends eos to sequences; BERT tokenizers have none (docs/training-notes.md: "endswith").
        tokenizer.eos_token = tokenizer.sep_token
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(name_or_path: str, **kwargs: Any) -> Any:
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(name_or_path, **kwargs)
    except OSError as error:
        raise _not_found(name_or_path, error) from error


def load_reward_model(name_or_path: str, *, pad_token_id: int | None = None, **kwargs: Any) -> Any:
    """A sequence classifier with one output: the reward. A fresh head when the base has none."""
    from transformers import AutoModelForSequenceClassification

    try:
        model = AutoModelForSequenceClassification.from_pretrained(name_or_path, num_labels=1, **kwargs)
    except OSError as error:
        raise _not_found(name_or_path, error) from error
    if pad_token_id is not None:
        # Sequence classifiers find each row's last real token through config.pad_token_id.
        model.config.pad_token_id = pad_token_id
    return model


def save_model(model: Any, tokenizer: Any, output_dir: Path) -> None:
    """Save a plain HF model (LoRA merged in) and its tokenizer; only the main process writes."""
    if not is_main_process():
        return
    from peft import PeftModel

    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    if isinstance(model, PeftModel):
        model = model.merge_and_unload()
    if tokenizer.pad_token_id is not None and getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
