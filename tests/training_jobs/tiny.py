"""A tiny GPT-2 (2 layers, 64 wide) and its byte-level BPE tokenizer, built in a second for the tests."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.helpers.paths import DATA_DIR

EOS = "<|endoftext|>"
PAD = "<|pad|>"


def corpus(limit: int = 3000) -> list[str]:
    with (DATA_DIR / "ethics_utilitarianism_train.csv").open(newline="") as handle:
        return [
            cell.strip() for row, _ in zip(csv.reader(handle), range(limit), strict=False) for cell in row
        ]


def build_tiny_gpt2(directory: Path, *, seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=[EOS, PAD], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    backend.train_from_iterator(corpus(), trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token=EOS,
        bos_token=EOS,
        pad_token=PAD,
        padding_side="left",
        model_max_length=256,
    )
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=256,
        n_embd=64,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.eos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    GPT2LMHeadModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
