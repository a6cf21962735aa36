"""Registering a policy trained elsewhere as a policy version (`POST /api/v1/models` with `kind: policy`,
`rlhf models register --kind policy`).

The source is a folder on the server or a Hugging Face id found in the server's Hugging Face cache (the
collector reaches no model hub: a model not cached there is refused with how to fetch it). It is either a
full causal LM with its tokenizer, copied into the artifact store as it is, or a LoRA adapter (peft's
adapter_config.json) with its base, merged into the base as the platform stores its own LoRA-trained
versions (training_jobs/checkpoints.save_model): every version stays a plain Hugging Face folder that the
inference service and every job load with the Auto classes. The merge needs torch, which the collector never
imports, so it runs in a child process (services/modeling/adapter_merge.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from services.core.artifacts import new_version_dir, version_path
from services.core.enums import ModelKind
from services.core.errors import InvalidInputError
from services.core.orm import ModelVersion
from services.domain import model_versions
from services.domain.model_registration import read_config
from services.domain.model_sources import resolve_source

# Causal LMs' classes end so in transformers (LlamaForCausalLM, GPT2LMHeadModel); a *ForConditionalGeneration
# may be an encoder-decoder, which /generate does not serve.
CAUSAL_LM_SUFFIXES = ("ForCausalLM", "LMHeadModel")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin")
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
# A trainer's output folder also holds its intermediate checkpoints (optimizer states included): not the model.
NOT_COPIED = ("checkpoint-*",)
# A merge loads the base and the adapter: minutes for a 7B model on a CPU.
MERGE_TIMEOUT_SECONDS = 3600


def _has(folder: Path, patterns: tuple[str, ...]) -> bool:
    return any(next(folder.glob(pattern), None) is not None for pattern in patterns)


def check_causal_lm(folder: Path, *, needs_tokenizer: bool = True) -> dict[str, Any]:
    """The folder's config when it holds a causal LM with weights (and a tokenizer); else a 422."""
    config = read_config(folder)
    architectures = config.get("architectures") or []
    if not any(str(name).endswith(CAUSAL_LM_SUFFIXES) for name in architectures):
        raise InvalidInputError(
            f"config.json in {str(folder)!r} names the architectures {architectures}; a policy is a causal LM "
            "(*ForCausalLM or *LMHeadModel)"
        )
    if not _has(folder, WEIGHT_PATTERNS):
        raise InvalidInputError(
            f"{str(folder)!r} has no weights (model.safetensors, pytorch_model.bin or their shards)"
        )
    if needs_tokenizer and not _has(folder, TOKENIZER_FILES):
        raise InvalidInputError(
            f"{str(folder)!r} has no tokenizer (tokenizer.json or tokenizer_config.json): save it beside the "
            "model (tokenizer.save_pretrained)"
        )
    return config


def _adapter_config(folder: Path) -> dict[str, Any]:
    try:
        config = json.loads((folder / ADAPTER_CONFIG).read_text())
    except (OSError, ValueError) as error:
        raise InvalidInputError(f"cannot read {folder / ADAPTER_CONFIG}: {error}") from error
    if not isinstance(config, dict):
        raise InvalidInputError(f"{folder / ADAPTER_CONFIG} is not a JSON object")
    if config.get("peft_type") != "LORA":
        raise InvalidInputError(f"{folder / ADAPTER_CONFIG} is a {config.get('peft_type')} adapter, not LoRA")
    if not _has(folder, ADAPTER_WEIGHTS):
        raise InvalidInputError(f"{str(folder)!r} has no adapter weights ({' or '.join(ADAPTER_WEIGHTS)})")
    return config


def _merge(adapter: Path, base: str, tokenizer: str, output: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "services.modeling.adapter_merge",
        str(adapter),
        base,
        tokenizer,
        str(output),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=MERGE_TIMEOUT_SECONDS, check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit code {done.returncode}"]
        raise InvalidInputError(f"cannot merge the adapter {str(adapter)!r} into {base!r}: {lines[-1]}")


def _store(session: Session, version: ModelVersion, fill: Any) -> ModelVersion:
    """Write the version's folder with `fill(staged_dir)`, then its row; neither stays when either fails."""
    with new_version_dir(version.path) as staged:
        fill(staged)
    session.add(version)
    try:
        session.commit()
    except BaseException:
        shutil.rmtree(version_path(version.path), ignore_errors=True)  # no row, no folder
        raise
    return version


def register_policy(session: Session, *, source: str, base_model: str | None) -> ModelVersion:
    """A new policy version from a model folder or cached hub id, or a LoRA adapter merged into its base;
    nothing is written when it is refused."""
    folder, hub_id = resolve_source(source)
    params: dict[str, Any] = {"source": str(folder)}
    if hub_id is not None:
        params["hub_id"] = hub_id
    if not (folder / ADAPTER_CONFIG).exists():
        if base_model is not None:
            raise InvalidInputError("base_model is for LoRA adapter folders; this source is a full model")
        check_causal_lm(folder)
        base = hub_id or str(folder)
        fill = lambda staged: shutil.copytree(  # noqa: E731
            folder, staged, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*NOT_COPIED)
        )
    else:
        adapter = _adapter_config(folder)
        base = base_model or adapter.get("base_model_name_or_path") or ""
        if not base:
            raise InvalidInputError(
                "a LoRA adapter needs its base model: its adapter_config.json names none; pass base_model"
            )
        own_tokenizer = _has(folder, TOKENIZER_FILES)
        if base.startswith("builtin:"):
            base_path = base  # the child resolves a built-in (services/modeling/base_models.py)
        else:
            try:
                base_folder, _ = resolve_source(base)
            except InvalidInputError as error:
                named = "base_model" if base_model else f"{ADAPTER_CONFIG}'s base_model_name_or_path"
                raise InvalidInputError(f"{named}: {error.message}; pass base_model") from error
            check_causal_lm(base_folder, needs_tokenizer=not own_tokenizer)
            base_path = str(base_folder)
        tokenizer = str(folder) if own_tokenizer else base_path
        params["adapter"] = {
            "base_model": base,
            "merged": True,
            **{key: adapter.get(key) for key in ("r", "lora_alpha", "target_modules")},
        }
        fill = lambda staged: _merge(folder, base_path, tokenizer, staged)  # noqa: E731
    version_id = model_versions.reserve_id(session)
    name = model_versions.version_name(ModelKind.POLICY, version_id)
    version = ModelVersion(
        id=version_id, name=name, kind=ModelKind.POLICY, base_model=base, path=name, params=params
    )
    return _store(session, version, fill)
