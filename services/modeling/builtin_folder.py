"""Writing a built-in base model's folder: the one way both built-ins (tiny_gpt2.py, smollm2.py) end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def save_builtin(model: Any, tokenizer: Any, output_dir: Path, recipe: dict[str, Any]) -> None:
    """The model with a generation config naming the tokenizer's special tokens, the tokenizer, and
    builtin_recipe.json recording how the folder was made."""
    from transformers import GenerationConfig

    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    (output_dir / "builtin_recipe.json").write_text(json.dumps(recipe, indent=2) + "\n")
