"""The inference service as a real uvicorn subprocess against the session's database, with tiny models."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.core.enums import ModelKind
from services.core.orm import ModelVersion
from tests.helpers.tiny_models import add_version, build_tiny_gpt2
from tests.servers import ServerProcess, free_port, uvicorn_args


@pytest.fixture(scope="session")
def tiny_policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_gpt2(tmp_path_factory.mktemp("tiny-policy"), seed=0)


def start_inference(env: dict[str, str], log_path: Path) -> tuple[ServerProcess, str]:
    port = free_port()
    server = ServerProcess(
        uvicorn_args("services.inference.app:app", port),
        env={"RLHF_INFERENCE_PORT": str(port), "RLHF_MODEL_POLL_SECONDS": "0.2", **env},
        log_path=log_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        server.wait_http_ok(url + "/health", timeout=120)
    except BaseException:
        server.stop()
        raise
    return server, url


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


def wait_for(condition: Callable[[], Any], *, timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def serving(client: httpx.Client, kind: str) -> str | None:
    loaded = client.get("/info").raise_for_status().json()[kind]
    return loaded["name"] if loaded else None


def wait_serving(client: httpx.Client, kind: str, name: str | None) -> None:
    wait_for(lambda: serving(client, kind) == name, what=f"{kind} model {name} serving")


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


def sse_events(client: httpx.Client, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """POST and read a Server-Sent Events answer: the JSON payload of each `data:` line."""
    events = []
    with client.stream("POST", path, json=body) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data:"):
                events.append(json.loads(line[len("data:") :]))
    return events
