"""A stack of the platform's own for a benchmark: `rlhf up`'s start-up (services/stack.py) on a scratch
database and a temporary state dir, with a CollectorClient for the admin.

PostgreSQL: a scratch database on the given server, else on the local one (127.0.0.1:5432), else the embedded
server in the state dir (always the embedded one with `embedded_postgres`: for a benchmark that restarts it);
a scratch database is dropped at the end. Redis: the embedded one in the state dir (nothing shared), or the
given `redis_url`.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from services.client import CollectorClient
from services.core.databases import driver_url, scratch_database
from services.core.net import free_port, tcp_open
from services.core.settings import get_settings
from services.stack import ChildProcess, Stack, running_stack

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class ScratchStack:
    processes: Stack
    client: CollectorClient  # the admin's
    database_url: str  # psycopg's form
    redis_url: str
    state_dir: Path

    def child(self, name: str) -> ChildProcess:
        """One of the stack's children: collector, worker, inference (the same object across restarts)."""
        return next(child for child in self.processes.children if child.name == name)

    def pid(self, name: str) -> int:
        """The process id of a child now (a new one once `rlhf up`'s supervisor has restarted it)."""
        return self.child(name).process.pid


@contextmanager
def scratch_stack(
    database_server: str | None = None,
    *,
    embedded_postgres: bool = False,
    redis_url: str | None = None,
    with_worker: bool = True,
    with_inference: bool = False,
    env: dict[str, str] | None = None,
    keep_database: bool = False,
) -> Iterator[ScratchStack]:
    """Start it; `env` goes to this process and every child (e.g. OMP_NUM_THREADS for the worker)."""
    state_dir = Path(tempfile.mkdtemp(prefix="rlhf-bench-"))
    saved = dict(os.environ)
    with ExitStack() as cleanup:
        cleanup.callback(_restore_environ, saved)
        # A benchmark stopped with SIGTERM (`timeout`, `kill`) unwinds like Ctrl-C: the children stop and the
        # scratch database is dropped instead of being left behind.
        cleanup.callback(signal.signal, signal.SIGTERM, signal.signal(signal.SIGTERM, _exit_on_sigterm))
        server = database_server or (LOCAL_POSTGRES if tcp_open("127.0.0.1", 5432) else None)
        if server is not None and not embedded_postgres:
            os.environ["RLHF_DATABASE_URL"] = cleanup.enter_context(
                scratch_database(server, prefix="rlhf_bench", keep=keep_database)
            )
        else:
            os.environ.pop("RLHF_DATABASE_URL", None)
        if redis_url is not None:
            os.environ["RLHF_REDIS_URL"] = redis_url
        else:
            os.environ.pop("RLHF_REDIS_URL", None)
        os.environ.update(
            {
                "RLHF_STATE_DIR": str(state_dir),
                "RLHF_ADMIN_TOKEN": uuid.uuid4().hex + uuid.uuid4().hex,
                "RLHF_COLLECTOR_PORT": str(free_port()),
                "RLHF_INFERENCE_PORT": str(free_port()),
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "TRL_EXPERIMENTAL_SILENCE": "1",
                "TOKENIZERS_PARALLELISM": "false",
                **(env or {}),
            }
        )
        get_settings.cache_clear()
        settings = get_settings()
        processes = cleanup.enter_context(
            running_stack(
                settings,
                demo=False,
                with_worker=with_worker,
                with_inference=with_inference,
                console=Console(file=sys.stderr),
                log_dir=state_dir,
            )
        )
        client = cleanup.enter_context(CollectorClient.from_settings(get_settings(), timeout=600))
        # running_stack points this process at the servers it uses (the embedded ones' URLs, without given ones).
        yield ScratchStack(
            processes=processes,
            client=client,
            database_url=driver_url(os.environ["RLHF_DATABASE_URL"]),
            redis_url=os.environ["RLHF_REDIS_URL"],
            state_dir=state_dir,
        )


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _restore_environ(saved: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(saved)
    get_settings.cache_clear()
