"""Where models run and in which precision, chosen here for training and serving alike.

The GPU when there is one, else the CPU. On CUDA, models are loaded in bf16 where the GPU supports it
(fp16 otherwise): served models, frozen ones (references, reward scorers, samplers) and the frozen base
under a LoRA adapter, whose adapter weights peft keeps in fp32. A model trained in full keeps fp32 master
weights and computes in bf16 under autocast (the trainers' `bf16=True`, training_jobs/trl_config.py):
AdamW's updates at the learning rates RLHF uses (1e-6..1e-5) are below bf16's resolution and would round
away. On the CPU everything is fp32 (bf16 matmuls there are slow and lose precision for nothing).
Attention is PyTorch's SDPA.

Functions return torch objects typed Any, so that importing this module does not import torch.
"""

from __future__ import annotations

from typing import Any

ATTENTION = "sdpa"


def device() -> Any:
    """A torch.device: cuda when available, else cpu."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def model_dtype() -> Any:
    """The torch dtype models are loaded in on this machine's device."""
    import torch

    if not torch.cuda.is_available():
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def load_kwargs(*, full_training: bool = False) -> dict[str, Any]:
    """What `from_pretrained` takes for a model that runs here: its dtype and attention kernel;
    `full_training` for a model whose every weight trains (fp32 master weights, see above)."""
    import torch

    dtype = torch.float32 if full_training else model_dtype()
    return {"dtype": dtype, "attn_implementation": ATTENTION}
