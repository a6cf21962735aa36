"""`rlhf up`: the whole stack in one command — embedded or given Postgres/Redis, migrations, and the
collector, worker and inference processes, supervised until Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from services.core import embedded
from services.core.databases import ensure_database
from services.core.db import reset_engine
from services.core.migrate import upgrade_to_head
from services.core.net import answers, port_in_use, wait_healthy
from services.core.settings import Settings, get_settings
from services.supervisor import RestartPolicy, Supervisor

EMBEDDED_DATABASE = "rlhf"
PROCESS_COLOURS = {"collector": "cyan", "worker": "magenta", "inference": "green"}
# Celery prints it once the worker consumes from the queue.
WORKER_READY_LINE = b" ready."


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


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "services.cli", *args]


class ChildProcess:
    """One of the stack's processes (e.g. `cli_command("worker")`), its output pumped to the console (or a log
    file), in a session of its own: Ctrl-C reaches only the supervisor, which stops children in order."""

    def __init__(
        self,
        name: str,
        command: list[str],
        env: dict[str, str],
        console: Console,
        *,
        log_file: Path | None,
        health_url: str | None = None,
        ready_line: bytes | None = None,
        instance: str | None = None,
    ) -> None:
        self.name = name
        self.colour = PROCESS_COLOURS.get(name, "white")
        self.command = command
        self.env = env
        self.console = console
        self.log_file = log_file
        self.health_url = health_url
        self.instance = instance
        self.ready_line = ready_line
        self.ready = threading.Event()
        self.start()

    def start(self) -> None:
        self.ready.clear()
        self.process = subprocess.Popen(
            self.command,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.pump = threading.Thread(target=self._pump, args=(self.process,), daemon=True)
        self.pump.start()

    def _pump(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        sink = self.log_file.open("ab") if self.log_file is not None else None
        try:
            for raw in iter(process.stdout.readline, b""):
                if self.ready_line is not None and self.ready_line in raw and process is self.process:
                    self.ready.set()
                if sink is not None:
                    sink.write(raw)
                    sink.flush()
                    continue
                # Escaped: a line like "saved to [/tmp/x]" is a closing tag to rich, whose MarkupError would end
                # this thread, and the child would block once its pipe filled up.
                line = escape(raw.decode(errors="replace").rstrip())
                self.console.print(
                    f"[{self.colour}]{self.name:>9} |[/{self.colour}] {line}",
                    markup=True,
                    highlight=False,
                    soft_wrap=True,
                )
        finally:
            if sink is not None:
                sink.close()

    def running(self) -> bool:
        return self.process.poll() is None

    def went_down(self) -> str:
        # What it started may outlive it (the ranks of a multi-process job, uvicorn's workers): they share
        # its process group, and must not hold memory, GPUs or the port when it starts again.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        code = self.process.returncode
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exited with code {code}"

    def answering(self) -> bool:
        if self.health_url is not None:
            return answers(self.health_url, instance=self.instance)
        return self.ready.is_set() if self.ready_line is not None else True


@dataclass
class EmbeddedServerUnit:
    """An embedded server as the supervisor sees it: restarted in place (same data, same socket)."""

    name: str
    server: embedded.EmbeddedPostgres | embedded.EmbeddedRedis
    colour: str = "blue"

    def running(self) -> bool:
        return self.server.running()

    def went_down(self) -> str:
        return "stopped"

    def start(self) -> None:
        self.server.restart()

    def answering(self) -> bool:
        return True  # restart() returns once the server accepts connections


def _stop_children(children: list[ChildProcess], *, timeout: float = 30.0) -> None:
    for child in children:
        if child.running():
            os.killpg(child.process.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for child in children:
        try:
            child.process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(child.process.pid, signal.SIGKILL)
            child.process.wait()


def restart_policy(settings: Settings) -> RestartPolicy:
    return RestartPolicy(
        backoff_seconds=settings.restart_backoff_seconds,
        min_uptime_seconds=settings.restart_min_uptime_seconds,
        max_fast_failures=settings.restart_max_fast_failures,
    )


@dataclass
class Stack:
    """The processes of a running stack, and what a client needs to reach it."""

    children: list[ChildProcess]
    supervisor: Supervisor
    collector_url: str
    inference_url: str
    admin_token: str
    annotator_token: str | None


def check_ports_free(settings: Settings, *, with_inference: bool) -> None:
    """Refuse to start anything when a port the stack's services need is taken (another `rlhf up`, say)."""
    ports = [("RLHF_COLLECTOR_PORT", settings.collector_port)]
    if with_inference:
        ports.append(("RLHF_INFERENCE_PORT", settings.inference_port))
    for variable, port in ports:
        if port_in_use(settings.host, port):
            raise RuntimeError(
                f"port {port} on {settings.host} is already in use (another `rlhf up`?): stop what holds it, "
                f"or set {variable} to a free port (in the environment or .env)"
            )


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
    """Start servers (embedded unless URLs are set), migrate, start the processes, supervise them (a dead one
    is restarted: see services/supervisor.py); stop all on exit.

    The processes' output goes to the console, or to one file each in `log_dir` when it is given.
    """
    check_ports_free(settings, with_inference=with_inference)
    state_dir = settings.state_dir.resolve()
    # Our services answer /health with it: another stack on the same ports cannot pass for ours.
    instance = uuid.uuid4().hex
    started: list[EmbeddedServerUnit] = []
    children: list[ChildProcess] = []
    try:
        database_url = settings.database_url
        if database_url is None:
            console.print(f"starting embedded PostgreSQL in {state_dir / 'postgres'}")
            postgres = embedded.start_postgres(state_dir)
            started.append(EmbeddedServerUnit("postgres", postgres))
            database_url = ensure_database(postgres.url, EMBEDDED_DATABASE)
        redis_url = settings.redis_url
        if redis_url is None:
            console.print(f"starting embedded Redis in {state_dir / 'redis.db'}")
            redis = embedded.start_redis(state_dir)
            started.append(EmbeddedServerUnit("redis", redis, colour="yellow"))
            redis_url = redis.url

        admin_token = settings.resolved_admin_token()
        env = {
            **os.environ,
            "RLHF_DATABASE_URL": database_url,
            "RLHF_REDIS_URL": redis_url,
            "RLHF_STATE_DIR": str(state_dir),
            "RLHF_ADMIN_TOKEN": admin_token,
            "RLHF_INSTANCE_ID": instance,
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

        def start(name: str, args: list[str], **readiness: Any) -> ChildProcess:
            log_file = None if log_dir is None else log_dir / f"{name}.log"
            child = ChildProcess(name, cli_command(*args), env, console, log_file=log_file, **readiness)
            children.append(child)
            return child

        collector_health = settings.resolved_collector_url + "/health"
        collector = start("collector", ["serve", "collector"], health_url=collector_health, instance=instance)
        # At first start the stack comes up whole or not at all.
        wait_healthy(collector_health, process=collector.process, name="collector", instance=instance)
        if with_worker:
            start("worker", ["worker"], ready_line=WORKER_READY_LINE)
        if with_inference:
            console.print(
                "starting the inference service (the first start on a machine downloads and converts the "
                "built-in policy: minutes)"
            )
            inference_health = settings.resolved_inference_url + "/health"
            inference = start(
                "inference", ["serve", "inference"], health_url=inference_health, instance=instance
            )
            # SmolLM2's first conversion took 2.5 to 8 minutes on two busy cores (README, built-in models).
            wait_healthy(
                inference_health, process=inference.process, name="inference", timeout=1800, instance=instance
            )
        supervisor = Supervisor([*started, *children], restart_policy(settings), console)
        # Stopped before the children are, so that nothing is restarted while the stack stops.
        with supervisor.in_background():
            yield Stack(
                children=children,
                supervisor=supervisor,
                collector_url=settings.resolved_collector_url,
                inference_url=settings.resolved_inference_url,
                admin_token=admin_token,
                annotator_token=annotator_token,
            )
    finally:
        console.print("stopping")
        _stop_children(children)
        for unit in reversed(started):
            unit.server.stop()


def run_stack(
    settings: Settings, *, demo: bool, with_worker: bool, with_inference: bool, console: Console
) -> int:
    """`rlhf up`: run until Ctrl-C or SIGTERM, healing what dies; exit code 1 if something was given up on."""
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
            stop_requested.wait()
            given_up = stack.supervisor.given_up
        if given_up:
            console.print(f"[red]given up on while running: {', '.join(given_up)}[/red]")
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
    lines.append(f"  console      {collector}/admin   (sign in with the admin token below)")
    lines.append(f"  collector    {collector}   (API docs: {collector}/docs)")
    if with_inference:
        lines.append(f"  inference    {settings.resolved_inference_url}")
    token_file = Path(settings.state_dir) / "admin_token"
    source = "RLHF_ADMIN_TOKEN" if settings.admin_token else str(token_file)
    lines.append(f"  admin token  {settings.resolved_admin_token()}   (from {source})")
    lines.append("Press Ctrl-C to stop.")
    console.print("\n".join(lines), highlight=False)
