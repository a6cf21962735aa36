"""A small GPT-2 and its byte-level BPE tokenizer, built from a recipe and a few documents: the built-in
`builtin:tiny-gpt2` policy (services/modeling/base_models.py) and the tests' tiny models come from here.

The build is deterministic: the same recipe and documents give the same tokenizer and, with the same torch
build, the same weights (it runs on one thread with its own RNG state, and leaves the caller's untouched).
With `pretrain_steps` > 0 the model is pretrained by next-token prediction on the documents; with 0 it
keeps its random initial weights (enough for tests of the machinery).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.modeling.builtin_folder import save_builtin

EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"


@dataclass(frozen=True)
class TinyGPT2Recipe:
    """Everything that determines a tiny GPT-2 besides its documents (the defaults are the built-in model's)."""

    seed: int = 0
    vocab_size: int = 2048
    n_layer: int = 2
    n_embd: int = 128
    n_head: int = 4
    n_positions: int = 512
    pretrain_steps: int = 200
    batch_size: int = 16
    block_size: int = 64
    learning_rate: float = 3e-3


def build(output_dir: Path, recipe: TinyGPT2Recipe, documents: list[str], *, name: str | None = None) -> None:
    """Train the tokenizer on `documents`, initialise (and pretrain) the model, and save both to `output_dir`;
    `name` is recorded in builtin_recipe.json."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = _train_tokenizer(documents, recipe)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=recipe.n_positions,
        n_embd=recipe.n_embd,
        n_layer=recipe.n_layer,
        n_head=recipe.n_head,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )

    # One thread: the same bits on any machine (the reduction order of a CPU matmul depends on the thread
    # count), and no stalls when other processes share the cores. The caller's RNG and threads are restored.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(recipe.seed)
            model = GPT2LMHeadModel(config)
            if recipe.pretrain_steps > 0:
                _pretrain(model, tokenizer, documents, recipe)
    finally:
        torch.set_num_threads(threads)
    save_builtin(model, tokenizer, output_dir, {"name": name, **dataclasses.asdict(recipe)})


def _train_tokenizer(documents: list[str], recipe: TinyGPT2Recipe) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=recipe.vocab_size,
        special_tokens=[EOS_TOKEN, PAD_TOKEN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(documents, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=EOS_TOKEN,
        eos_token=EOS_TOKEN,
        unk_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,  # distinct from eos, so masking padding never masks a real end of text
        padding_side="left",  # decoder-only generation continues from the right edge
        model_max_length=recipe.n_positions,
    )


def _pretrain(model: Any, tokenizer: Any, documents: list[str], recipe: TinyGPT2Recipe) -> None:
    """Next-token prediction on random windows of the documents, one-cycle learning rate, AdamW."""
    import torch

    ids: list[int] = []
    for document in documents:
        ids += tokenizer(document, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    stream = torch.tensor(ids)

    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=recipe.learning_rate, total_steps=recipe.pretrain_steps, pct_start=0.1
    )
    last_start = len(stream) - recipe.block_size
    for _ in range(recipe.pretrain_steps):
        starts = torch.randint(0, last_start, (recipe.batch_size,)).tolist()
        batch = torch.stack([stream[start : start + recipe.block_size] for start in starts])
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
    model.eval()
