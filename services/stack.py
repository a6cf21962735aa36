"""`rlhf up`: the whole stack in one command — embedded or given Postgres/Redis, migrations, and the
collector, worker and inference processes, supervised until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from services.core import embedded
from services.core.databases import ensure_database
from services.core.db import reset_engine
from services.core.migrate import upgrade_to_head
from services.core.net import wait_healthy
from services.core.settings import Settings, get_settings

EMBEDDED_DATABASE = "rlhf"
PROCESS_COLOURS = {"collector": "cyan", "worker": "magenta", "inference": "green"}


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    pump: threading.Thread = field(init=False)


def _seed_demo(state_dir: Path) -> str:
    """Seed the demo dataset; the demo annotator's token is kept in the state dir (the DB holds its hash)."""
    from services.core.db import session_scope
    from services.domain import demo

    token_file = state_dir / "demo_annotator_token"
    known = token_file.read_text().strip() if token_file.exists() else None
    with session_scope() as session:
        seeded = demo.seed(session, annotator_token=known)
    if seeded.annotator_token != known:
        token_file.write_text(seeded.annotator_token + "\n")
        token_file.chmod(0o600)
    return seeded.annotator_token


def _pump_output(child: Child, console: Console, log_file: Path | None) -> None:
    colour = PROCESS_COLOURS.get(child.name, "white")
    assert child.process.stdout is not None
    sink = log_file.open("ab") if log_file is not None else None
    try:
        for raw in iter(child.process.stdout.readline, b""):
            if sink is not None:
                sink.write(raw)
                sink.flush()
                continue
            line = raw.decode(errors="replace").rstrip()
            console.print(
                f"[{colour}]{child.name:>9} |[/{colour}] {line}", markup=True, highlight=False, soft_wrap=True
            )
    finally:
        if sink is not None:
            sink.close()


def _start_child(
    name: str, args: list[str], env: dict[str, str], console: Console, *, log_file: Path | None
) -> Child:
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # A session of its own: Ctrl-C reaches only the supervisor, which stops children in order.
        start_new_session=True,
    )
    child = Child(name=name, process=process)
    child.pump = threading.Thread(target=_pump_output, args=(child, console, log_file), daemon=True)
    child.pump.start()
    return child


def _stop_children(children: list[Child], *, timeout: float = 30.0) -> None:
    for child in children:
        if child.process.poll() is None:
            os.killpg(child.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()


@dataclass
class Stack:
    """The processes of a running stack, and what a client needs to reach it."""

    children: list[Child]
    collector_url: str
    inference_url: str
    admin_token: str
    annotator_token: str | None

    def dead_children(self) -> list[Child]:
        return [child for child in self.children if child.process.poll() is not None]


@contextmanager
def running_stack(
    settings: Settings,
    *,
    demo: bool,
    with_worker: bool,
    with_inference: bool,
    console: Console,
    log_dir: Path | None = None,
) -> Iterator[Stack]:
    """Start servers (embedded unless URLs are set), migrate, start the processes; stop all on exit.

    The processes' output goes to the console, or to one file each in `log_dir` when it is given.
    """
    state_dir = settings.state_dir.resolve()
    started: list[embedded.EmbeddedPostgres | embedded.EmbeddedRedis] = []
    children: list[Child] = []
    try:
        database_url = settings.database_url
        if database_url is None:
            console.print(f"starting embedded PostgreSQL in {state_dir / 'postgres'}")
            postgres = embedded.start_postgres(state_dir)
            started.append(postgres)
            database_url = ensure_database(postgres.url, EMBEDDED_DATABASE)
        redis_url = settings.redis_url
        if redis_url is None:
            console.print(f"starting embedded Redis in {state_dir / 'redis.db'}")
            redis = embedded.start_redis(state_dir)
            started.append(redis)
            redis_url = redis.url

        admin_token = settings.resolved_admin_token()
        env = {
            **os.environ,
            "RLHF_DATABASE_URL": database_url,
            "RLHF_REDIS_URL": redis_url,
            "RLHF_STATE_DIR": str(state_dir),
            "RLHF_ADMIN_TOKEN": admin_token,
        }
        os.environ.update(env)
        get_settings.cache_clear()
        reset_engine()

        console.print("applying migrations")
        upgrade_to_head(database_url)

        annotator_token = None
        if demo:
            annotator_token = _seed_demo(state_dir)
            console.print("demo dataset ready")

        def start(name: str, args: list[str]) -> Child:
            log_file = None if log_dir is None else log_dir / f"{name}.log"
            child = _start_child(name, args, env, console, log_file=log_file)
            children.append(child)
            return child

        collector = start("collector", ["serve", "collector"])
        wait_healthy(settings.resolved_collector_url + "/health", process=collector.process, name="collector")
        if with_worker:
            start("worker", ["worker"])
        if with_inference:
            console.print("starting the inference service (the first start builds the built-in policy)")
            inference = start("inference", ["serve", "inference"])
            wait_healthy(
                settings.resolved_inference_url + "/health",
                process=inference.process,
                name="inference",
                timeout=600,
            )
        yield Stack(
            children=children,
            collector_url=settings.resolved_collector_url,
            inference_url=settings.resolved_inference_url,
            admin_token=admin_token,
            annotator_token=annotator_token,
        )
    finally:
        console.print("stopping")
        _stop_children(children)
        for server in reversed(started):
            server.stop()


def run_stack(
    settings: Settings, *, demo: bool, with_worker: bool, with_inference: bool, console: Console
) -> int:
    """`rlhf up`: run until Ctrl-C (or until a process dies); return the exit code."""
    stop_requested = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        with running_stack(
            settings, demo=demo, with_worker=with_worker, with_inference=with_inference, console=console
        ) as stack:
            _print_banner(
                settings, console, annotator_token=stack.annotator_token, with_inference=with_inference
            )
            while not stop_requested.wait(0.5):
                dead = stack.dead_children()
                for child in dead:
                    console.print(f"[red]{child.name} exited with code {child.process.returncode}[/red]")
                if dead:
                    return 1
            return 0
    except RuntimeError as error:
        console.print(f"[red]{error}[/red]")
        return 1


def _print_banner(
    settings: Settings, console: Console, *, annotator_token: str | None, with_inference: bool
) -> None:
    collector = settings.resolved_collector_url
    lines = ["", "[bold]RLHF platform is up[/bold]"]
    if annotator_token is not None:
        lines.append(f"  web form     {collector}/annotate?token={annotator_token}")
    else:
        lines.append(f"  web form     {collector}/annotate")
    lines.append(f"  collector    {collector}   (API docs: {collector}/docs)")
    if with_inference:
        lines.append(f"  inference    {settings.resolved_inference_url}")
    token_file = Path(settings.state_dir) / "admin_token"
    source = "RLHF_ADMIN_TOKEN" if settings.admin_token else str(token_file)
    lines.append(f"  admin token  {settings.resolved_admin_token()}   (from {source})")
    lines.append("Press Ctrl-C to stop.")
    console.print("\n".join(lines), highlight=False)
