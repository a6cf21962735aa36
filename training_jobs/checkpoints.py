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
from services.core.errors import NotFoundError
from services.core.orm import ModelVersion
from services.core.settings import get_settings
from services.domain import model_versions, rewards
from services.modeling.base_models import ModelUnavailableError, resolve_base_model
from services.modeling.combined_reward import RewardSpec
from services.modeling.device import load_kwargs
from services.modeling.scoring import ScoreHead
from training_jobs.context import JobContext, JobInputError, is_main_process


@dataclass(frozen=True)
class ModelSource:
    """A model a job starts from."""

    path: str  # what from_pretrained takes
    name: str  # the version name or base model id, to record
    version_id: int | None  # None for a base model
    head: ScoreHead = ScoreHead()  # a reward version's score (a registered classifier's label and transform)


def _source(version: ModelVersion) -> ModelSource:
    return ModelSource(
        str(version_path(version.path)),
        version.name,
        version.id,
        ScoreHead.from_version_params(version.params),
    )


def _version(version_id: int, kind: ModelKind) -> ModelSource:
    with session_scope() as session:
        version = session.get(ModelVersion, version_id)
        if version is None:
            raise JobInputError(f"model version {version_id} does not exist")
        if version.kind != kind:
            raise JobInputError(f"model version {version.name} is a {version.kind} model, not a {kind} model")
        return _source(version)


def model_version_source(version_id: int) -> ModelSource:
    """A reward version that a named reward's component names."""
    return _version(version_id, ModelKind.REWARD)


def _promoted(kind: ModelKind) -> ModelSource | None:
    with session_scope() as session:
        version = model_versions.promoted(session, kind)
        if version is None:
            return None
        return _source(version)


def base_model_source(name: str) -> ModelSource:
    """A base model by name (services/modeling/base_models.py: the built-in ones, a local path, a hub id)."""
    try:
        return ModelSource(resolve_base_model(name), name, None)
    except ModelUnavailableError as error:
        raise JobInputError(str(error)) from None


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


def reward_source(name: str | None, version_id: int | None) -> ModelSource | RewardSpec:
    """What an online RL job optimises: this reward model version, else the named reward (services/domain/
    rewards.py: `default` when none is named), which is a stored combination or the promoted version."""
    if version_id is not None:
        return _version(version_id, ModelKind.REWARD)
    with session_scope() as session:
        try:
            resolved = rewards.resolve(session, name)
        except NotFoundError as error:
            raise JobInputError(f"params.reward: {error.message}") from error
        if resolved.reward is not None:
            stored = resolved.reward
            return RewardSpec.from_stored(stored.name, stored.version, stored.components, stored.safety_gate)
        if resolved.promoted is not None:
            return _source(resolved.promoted)
    raise JobInputError(
        "no reward: pass params.reward or params.reward_model_version_id, or promote a reward model version"
    )


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


def load_causal_lm(name_or_path: str, *, full_training: bool = False) -> Any:
    """A causal LM in this machine's dtype (services/modeling/device.py); `full_training` for a policy whose
    every weight trains (fp32 master weights on a GPU), not for a frozen one or a base under LoRA."""
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(name_or_path, **load_kwargs(full_training=full_training))
    except OSError as error:
        raise _not_found(name_or_path, error) from error


def load_reward_model(
    name_or_path: str, *, pad_token_id: int | None = None, full_training: bool = False
) -> Any:
    """A sequence classifier with one output: the reward. A fresh head when the base has none. Its dtype as
    `load_causal_lm`'s."""
    from transformers import AutoModelForSequenceClassification

    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            name_or_path, num_labels=1, **load_kwargs(full_training=full_training)
        )
    except OSError as error:
        raise _not_found(name_or_path, error) from error
    if pad_token_id is not None:
        # Sequence classifiers find each row's last real token through config.pad_token_id.
        model.config.pad_token_id = pad_token_id
    return model


def load_classifier(
    name_or_path: str, labels: list[str], *, pad_token_id: int | None = None, full_training: bool = False
) -> Any:
    """A sequence classifier with one output per label, named in its config (id2label, label2id); a fresh
    head when the base has none or has other labels. Its dtype as `load_causal_lm`'s."""
    from transformers import AutoModelForSequenceClassification

    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            name_or_path,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={name: i for i, name in enumerate(labels)},
            ignore_mismatched_sizes=True,  # a base classifier with another number of labels gets a new head
            **load_kwargs(full_training=full_training),
        )
    except OSError as error:
        raise _not_found(name_or_path, error) from error
    if pad_token_id is not None:
        model.config.pad_token_id = pad_token_id
    return model


def load_scoring_model(path: str, *, pad_token_id: int | None) -> Any:
    """A reward version's classifier as it was saved (one label for a trained reward model, any for a
    registered classifier), to score with; load_reward_model gives training a fresh one-output head."""
    from transformers import AutoModelForSequenceClassification

    try:
        model = AutoModelForSequenceClassification.from_pretrained(path, **load_kwargs())
    except OSError as error:
        raise _not_found(path, error) from error
    if pad_token_id is not None:
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
