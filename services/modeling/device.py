"""Where models run: the GPU when there is one, else the CPU."""

from __future__ import annotations

from typing import Any


def device() -> Any:
    """A torch.device (typed Any so that importing this module does not import torch)."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
