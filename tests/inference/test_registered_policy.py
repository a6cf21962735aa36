"""POST /api/v1/models with kind policy: a causal LM folder, a hub id in the server's Hugging Face cache, or a
LoRA adapter merged into its base becomes a policy version that, promoted, serves /generate and
/v1/chat/completions; bad registrations answer 422 and write neither a row nor a folder."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from transformers import AutoModelForCausalLM, AutoTokenizer

from services.core.artifacts import version_path
from services.core.orm import ModelVersion
from tests.helpers.inference import wait_serving
from tests.helpers.servers import running_collector
from tests.helpers.tiny_models import (
    build_tiny_chat_gpt2,
    build_tiny_gpt2,
    build_tiny_llama,
    build_tiny_reward,
)

PROMPT = "The morning was cold and"


@pytest.fixture(scope="module")
def outside_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A policy 'trained elsewhere': a tiny GPT-2 with a chat template, seeded apart from the default one."""
    return build_tiny_chat_gpt2(tmp_path_factory.mktemp("outside-policy"), seed=7)


@pytest.fixture(scope="module")
def base_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_gpt2(tmp_path_factory.mktemp("lora-base"), seed=3)


def make_adapter(base: Path, directory: Path, *, seed: int = 0) -> Path:
    """A LoRA adapter on `base` with non-zero B matrices (peft starts B at zero: merging would change nothing)."""
    torch.manual_seed(seed)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base),
        LoraConfig(r=4, lora_alpha=8, target_modules=["c_attn"], init_lora_weights=False),
    )
    model.save_pretrained(str(directory))
    return directory


def greedy(folder: Path | str, prompt: str, tokens: int) -> str:
    """What transformers itself generates greedily from the folder."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    with torch.inference_mode():
        out = model.generate(ids, max_new_tokens=tokens, do_sample=False)
    return str(tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))


def register(admin: httpx.Client, **body: Any) -> httpx.Response:
    return admin.post("/api/v1/models", json={"kind": "policy", **body})


def test_registered_folder_is_served_on_generate_and_chat(
    admin: httpx.Client,
    inference: httpx.Client,
    outside_policy: Path,
    promote: Callable[[int], None],
) -> None:
    (outside_policy / "checkpoint-500").mkdir(exist_ok=True)  # as a trainer's output folder has
    (outside_policy / "checkpoint-500" / "optimizer.pt").write_bytes(b"state")

    created = register(admin, source=str(outside_policy))

    assert created.status_code == 201, created.text
    version = created.json()
    assert admin.get(f"/api/v1/models/{version['id']}").raise_for_status().json() == version
    assert version["kind"] == "policy" and version["name"] == f"policy-{version['id']}"
    assert version["base_model"] == str(outside_policy.resolve()) and not version["promoted"]
    assert (version_path(version["path"]) / "config.json").exists()
    assert not (version_path(version["path"]) / "checkpoint-500").exists()

    promote(version["id"])
    wait_serving(inference, "policy", version["name"])
    generated = inference.post("/generate", json={"inputs": PROMPT, "parameters": {"max_new_tokens": 6}})
    chat = inference.post(
        "/v1/chat/completions",
        json={"model": version["name"], "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4},
    )

    assert generated.status_code == 200, generated.text
    assert generated.json()["generated_text"] == greedy(outside_policy, PROMPT, 6)
    assert chat.status_code == 200, chat.text
    assert chat.json()["model"] == version["name"]
    assert chat.json()["usage"]["completion_tokens"] >= 1


def test_lora_adapter_is_merged_into_its_base(
    admin: httpx.Client, inference: httpx.Client, base_policy: Path, tmp_path: Path,
    promote: Callable[[int], None],
) -> None:  # fmt: skip
    adapter = make_adapter(base_policy, tmp_path / "adapter")
    expected = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_policy), adapter)
    merged_weight = expected.merge_and_unload().transformer.h[0].attn.c_attn.weight.detach()

    created = register(admin, source=str(adapter))  # the base named in its adapter_config.json

    assert created.status_code == 201, created.text
    version = created.json()
    stored = version_path(version["path"])
    assert not (stored / "adapter_config.json").exists()  # a plain folder, as the platform's LoRA versions
    model: Any = AutoModelForCausalLM.from_pretrained(stored)
    assert torch.allclose(model.transformer.h[0].attn.c_attn.weight, merged_weight, atol=1e-6)
    base: Any = AutoModelForCausalLM.from_pretrained(base_policy)
    base_weight = base.transformer.h[0].attn.c_attn.weight
    assert not torch.allclose(base_weight, merged_weight, atol=1e-4)
    assert version["params"]["adapter"] == {
        "base_model": str(base_policy), "merged": True, "r": 4, "lora_alpha": 8, "target_modules": ["c_attn"],
    }  # fmt: skip
    assert version["base_model"] == str(base_policy)

    promote(version["id"])
    wait_serving(inference, "policy", version["name"])
    answer = inference.post("/generate", json={"inputs": PROMPT, "parameters": {"max_new_tokens": 5}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["generated_text"] == greedy(stored, PROMPT, 5)


def test_adapter_without_a_base_needs_base_model(
    admin: httpx.Client, db: Session, base_policy: Path, tmp_path: Path
) -> None:
    adapter = make_adapter(base_policy, tmp_path / "adapter", seed=1)
    config = (adapter / "adapter_config.json").read_text()
    (adapter / "adapter_config.json").write_text(config.replace(f'"{base_policy}"', "null"))
    before = db.scalar(select(func.count()).select_from(ModelVersion))

    refused = register(admin, source=str(adapter))
    assert db.scalar(select(func.count()).select_from(ModelVersion)) == before
    given = register(admin, source=str(adapter), base_model=str(base_policy))

    assert refused.status_code == 422 and "needs its base model" in refused.text, refused.text
    assert given.status_code == 201, given.text
    assert given.json()["params"]["adapter"]["base_model"] == str(base_policy)


@pytest.fixture
def hub_cache(tmp_path: Path, outside_policy: Path) -> Path:
    """A Hugging Face cache holding `acme/tiny-chat` as `hf download` leaves it (refs/main → a snapshot)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--acme--tiny-chat"
    shutil.copytree(outside_policy, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    return tmp_path / "hub"


@pytest.fixture
def hub_collector(
    stack_env: dict[str, str], hub_cache: Path, admin_token: str, tmp_path: Path
) -> Iterator[httpx.Client]:
    """A collector whose Hugging Face cache is `hub_cache`, and no hub."""
    env = {**stack_env, "HF_HUB_CACHE": str(hub_cache), "HF_HUB_OFFLINE": "1"}
    with (
        running_collector(env, log_path=tmp_path / "collector.log") as url,
        httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=60) as client,
    ):
        yield client


def test_hub_id_is_found_in_the_servers_cache_or_refused_with_how_to_fetch_it(
    hub_collector: httpx.Client, hub_cache: Path, db: Session
) -> None:
    found = register(hub_collector, source="acme/tiny-chat")
    before = db.scalar(select(func.count()).select_from(ModelVersion))
    missing = register(hub_collector, source="acme/not-downloaded")

    assert found.status_code == 201, found.text
    assert found.json()["base_model"] == "acme/tiny-chat"
    assert found.json()["params"]["hub_id"] == "acme/tiny-chat"
    assert (version_path(found.json()["path"]) / "tokenizer_config.json").exists()
    assert missing.status_code == 422
    assert f"nor a model in its Hugging Face cache ({hub_cache})" in missing.text
    assert "hf download acme/not-downloaded" in missing.text
    assert db.scalar(select(func.count()).select_from(ModelVersion)) == before


def _without_tokenizer(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("tokenizer*", "vocab.json", "merges.txt"))
    return target


def _classifier(_: Path, target: Path) -> Path:
    return build_tiny_reward(target, seed=1)


def _llama_adapter_on_gpt2(source: Path, target: Path) -> Path:
    """An adapter trained on another architecture than the base it is registered with: the merge fails."""
    llama = build_tiny_llama(target / "llama")
    adapter = get_peft_model(
        AutoModelForCausalLM.from_pretrained(llama), LoraConfig(r=2, target_modules=["q_proj"])
    )
    adapter.save_pretrained(str(target / "adapter"))
    return target / "adapter"


@pytest.mark.parametrize(
    ("make_source", "body", "message"),
    [
        pytest.param(_classifier, {}, "a policy is a causal LM", id="not-a-causal-lm"),
        pytest.param(_without_tokenizer, {}, "has no tokenizer", id="no-tokenizer"),
        pytest.param(None, {"source": "/nonexistent/model"}, "is not a folder on the server", id="no-folder"),
        pytest.param(None, {"label": "POSITIVE"}, "label: only for kind reward", id="reward-field"),
        pytest.param(
            None, {"base_model": "gpt2"}, "base_model is for LoRA adapter folders", id="base-for-full"
        ),
        pytest.param(
            _llama_adapter_on_gpt2,
            {"base_model": "BASE"},
            "cannot merge the adapter",
            id="adapter-wrong-base",
        ),
    ],
)
def test_bad_registration_answers_422_and_writes_nothing(
    admin: httpx.Client,
    db: Session,
    outside_policy: Path,
    base_policy: Path,
    tmp_path: Path,
    make_source: Callable[[Path, Path], Path] | None,
    body: dict[str, Any],
    message: str,
) -> None:
    source = make_source(outside_policy, tmp_path / "source") if make_source else outside_policy
    if body.get("base_model") == "BASE":
        body = {**body, "base_model": str(base_policy)}
    before = db.scalar(select(func.count()).select_from(ModelVersion))
    artifacts = set(version_path("").iterdir())

    response = register(admin, **{"source": str(source), **body})

    assert response.status_code == 422, response.text
    assert message in response.text
    assert db.scalar(select(func.count()).select_from(ModelVersion)) == before
    assert set(version_path("").iterdir()) == artifacts
