"""Writes services/domain/demo_smollm2_answers.jsonl, the comparisons `rlhf up --demo` seeds: for each
prompt of the hand-written demo pairs (services/domain/demo_comparisons.jsonl, whose known winners `rlhf
demo` and the benchmarks keep training on), two answers that the default policy, SmolLM2-135M-Instruct,
samples through its chat template, one at temperature 0.7 and one at 1.1 (so that the pair usually differs
in quality), in a seeded random order. The answers carry no judgement: they are to be imported without
preferences, for people to judge (services/domain/demo.seed).

Generation of 2 × 56 answers of up to 128 tokens needs more than 10 CPU-minutes; run it once when the
default policy changes. The shipped file was made with

    OMP_NUM_THREADS=1 python scripts/generate_demo_answers.py --prompts 40 --max-new-tokens 96 --batch-size 20

(seed 0; one thread, as the machine's two cores were shared with much other work)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.domain.demo import DEMO_ANSWERS_FILE, DEMO_FILE  # noqa: E402
from services.modeling.base_models import BUILTIN_SMOLLM2, resolve_base_model  # noqa: E402
from services.modeling.chat import prompt_ids  # noqa: E402
from services.modeling.device import device, load_kwargs  # noqa: E402

TEMPERATURES = (0.7, 1.1)
SEED = 0


def sample(model, tokenizer, prompts: list[str], *, temperature: float, max_new_tokens: int) -> list[str]:
    batch = [prompt_ids(tokenizer, prompt) for prompt in prompts]
    tokenizer.padding_side = "left"
    encoded = tokenizer.pad({"input_ids": batch}, return_tensors="pt").to(device())
    with torch.inference_mode():
        output = model.generate(
            **encoded,
            do_sample=True,
            temperature=temperature,
            top_p=0.95,
            top_k=0,
            max_new_tokens=max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
        )
    texts = tokenizer.batch_decode(output[:, encoded["input_ids"].shape[1] :], skip_special_tokens=True)
    return [text.strip() for text in texts]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prompts", type=int, help="answer only the first N demo prompts (default: all)")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--output", type=Path, default=DEMO_ANSWERS_FILE)
    args = parser.parse_args()

    started = time.monotonic()
    path = resolve_base_model(BUILTIN_SMOLLM2)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, **load_kwargs()).to(device()).eval()
    prompts = [json.loads(line)["prompt"] for line in DEMO_FILE.read_text().splitlines() if line.strip()]
    prompts = prompts[: args.prompts]
    torch.manual_seed(SEED)
    order = random.Random(SEED)
    rows = []
    for start in range(0, len(prompts), args.batch_size):
        chunk = prompts[start : start + args.batch_size]
        answers = [
            sample(model, tokenizer, chunk, temperature=t, max_new_tokens=args.max_new_tokens)
            for t in TEMPERATURES
        ]
        for prompt, first, second in zip(chunk, *answers, strict=True):
            a, b = (first, second) if order.random() < 0.5 else (second, first)
            rows.append({"prompt": prompt, "chosen": a, "rejected": b})
        print(f"{len(rows)}/{len(prompts)} prompts, {time.monotonic() - started:.0f} s", file=sys.stderr)
    args.output.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    print(
        json.dumps(
            {"prompts": len(rows), "seconds": round(time.monotonic() - started), "output": str(args.output)}
        )
    )


if __name__ == "__main__":
    main()
