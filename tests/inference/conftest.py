"""The inference service as a real uvicorn subprocess against the session's database, with tiny models."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from openai import OpenAI
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from services.core.enums import ModelKind
from services.core.orm import ModelVersion, Reward
from tests.helpers.inference import wait_for
from tests.helpers.servers import start_inference
from tests.helpers.tiny_models import add_version, build_tiny_chat_gpt2, build_tiny_gpt2


@pytest.fixture(scope="session")
def tiny_policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny-policy"), seed=0)


@pytest.fixture(scope="session")
def inference_env(stack_env: dict[str, str], tiny_policy_dir: Path) -> dict[str, str]:
    # A wider generate window than the default, so that concurrent test requests surely share batches.
    return {**stack_env, "RLHF_POLICY_MODEL": str(tiny_policy_dir), "RLHF_GENERATE_MAX_WAIT_MS": "50"}


@pytest.fixture(scope="session")
def inference_url(inference_env: dict[str, str], state_dir: Path) -> Iterator[str]:
    server, url = start_inference(inference_env, state_dir / "inference.log")
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def inference(inference_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=inference_url, timeout=120) as client:
        yield client


@pytest.fixture(scope="session")
def chat_policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_chat_gpt2(tmp_path_factory.mktemp("tiny-chat-policy"), seed=0)


@pytest.fixture(scope="session")
def chat_inference_url(
    inference_env: dict[str, str], chat_policy_dir: Path, state_dir: Path
) -> Iterator[str]:
    """A second inference service whose default policy has a chat template (the OpenAI routes' tests)."""
    env = {**inference_env, "RLHF_POLICY_MODEL": str(chat_policy_dir)}
    server, url = start_inference(env, state_dir / "chat-inference.log")
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def chat_inference(chat_inference_url: str, demote_all: Callable[[str], None]) -> Iterator[httpx.Client]:
    """The chat service serving its default policy (no promoted policy, whatever tests ran before)."""
    demote_all("policy")
    with httpx.Client(base_url=chat_inference_url, timeout=120) as client:
        wait_for(
            lambda: client.get("/info").json()["policy"]["source"] == "default",
            what="the default chat policy",
        )
        yield client


@pytest.fixture
def make_version(db: Session) -> Callable[..., ModelVersion]:
    def make(kind: str, *, seed: int) -> ModelVersion:
        return add_version(db, kind=ModelKind(kind), seed=seed)

    return make


@pytest.fixture
def restore_promotions(db: Session) -> Iterator[None]:
    """Whatever a test promotes or demotes, the promoted versions are put back as they were afterwards."""
    db.rollback()
    before = list(db.scalars(select(ModelVersion.id).where(ModelVersion.promoted)))
    yield
    db.rollback()
    db.execute(update(ModelVersion).values(promoted=False))
    db.execute(update(ModelVersion).where(ModelVersion.id.in_(before)).values(promoted=True))
    db.commit()


@pytest.fixture
def promote(admin: httpx.Client, restore_promotions: None) -> Callable[[int], None]:
    """Promote a version through the collector: POST /api/v1/models/{id}/promote."""

    def run(version_id: int) -> None:
        admin.post(f"/api/v1/models/{version_id}/promote").raise_for_status()

    return run


@pytest.fixture
def demote_all(db: Session, restore_promotions: None) -> Callable[[str], None]:
    """Test setup: no promoted version of `kind` (as on a fresh install)."""

    def run(kind: str) -> None:
        db.rollback()
        db.execute(update(ModelVersion).where(ModelVersion.kind == kind).values(promoted=False))
        db.commit()

    return run


@pytest.fixture
def no_default_reward(db: Session) -> Iterator[None]:
    """No reward named default before the test, nor any it created after it (the promoted model serves)."""
    db.rollback()
    db.execute(delete(Reward).where(Reward.name == "default"))
    db.commit()
    yield
    db.rollback()
    db.execute(delete(Reward).where(Reward.name == "default"))
    db.commit()


@pytest.fixture
def openai_client(
    chat_inference: httpx.Client, chat_inference_url: str, admin_token: str
) -> Iterator[OpenAI]:
    """The official `openai` client against the chat service (no retries: every answer is the first)."""
    with OpenAI(
        base_url=f"{chat_inference_url}/v1", api_key=admin_token, max_retries=0, timeout=120
    ) as client:
        yield client
