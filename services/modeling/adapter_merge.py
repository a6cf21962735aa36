"""Merge a LoRA adapter into its base and save a plain Hugging Face folder (the model and a tokenizer).

`python -m services.modeling.adapter_merge ADAPTER BASE TOKENIZER OUTPUT`: run as a child process by the
collector's policy registration (services/domain/policy_registration.py), which never imports torch itself.
BASE is a folder or a built-in name (services/modeling/base_models.py). A refusal is one line on stderr and
exit code 2, which the registration answers as a 422.
"""

from __future__ import annotations

import sys
from pathlib import Path


def merge(adapter: str, base: str, tokenizer: str, output: Path) -> None:
    """The base with the adapter's weights folded in (peft's merge_and_unload), in the base's saved dtype."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from services.modeling.base_models import resolve_base_model

    base_path = resolve_base_model(base)
    model = AutoModelForCausalLM.from_pretrained(base_path, dtype="auto")
    merged = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    output.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(output)
    AutoTokenizer.from_pretrained(resolve_base_model(tokenizer)).save_pretrained(output)


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print(
            "usage: python -m services.modeling.adapter_merge ADAPTER BASE TOKENIZER OUTPUT", file=sys.stderr
        )
        return 2
    adapter, base, tokenizer, output = argv
    try:
        merge(adapter, base, tokenizer, Path(output))
    except Exception as error:  # noqa: BLE001 - any failure is the registration's 422, said in one line
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"{type(error).__name__}: {message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
