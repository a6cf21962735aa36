"""Keeps the parts of `rlhf up` alive: one that dies is started again after a backoff, and given up on after
repeated fast failures, while the others keep serving.

The policy is supervisord's (`startsecs`, `startretries`) with systemd's doubling `RestartSec`: a run
shorter than `min_uptime_seconds` is a fast failure; each one in a row doubles the wait before the next
start, and after `max_fast_failures` in a row the unit is left down (a crash loop only burns CPU and
hides the cause). A run that lasted longer wipes the slate: a worker killed for memory an hour into a job
comes back at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from rich.console import Console
from rich.markup import escape

MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True)
class RestartPolicy:
    backoff_seconds: float = 1.0
    min_uptime_seconds: float = 10.0
    max_fast_failures: int = 5

    def backoff(self, fast_failures: int) -> float:
        """The wait before the next start, after this many fast failures in a row (0: it ran long)."""
        return min(MAX_BACKOFF_SECONDS, self.backoff_seconds * 2 ** max(0, fast_failures - 1))


class Unit(Protocol):
    """Something the supervisor keeps running: a child process or an embedded server."""

    name: str
    colour: str

    def running(self) -> bool: ...

    def went_down(self) -> str:
        """Clean up what is left of it (e.g. its process group) and say why it is down (an exit code)."""
        ...

    def start(self) -> None:
        """Start it again; raise if it cannot be started (that counts as a fast failure)."""
        ...

    def answering(self) -> bool:
        """Whether it serves again (a health check), for the log line that says it recovered."""
        ...


@dataclass
class _Watch:
    unit: Unit
    started_at: float
    fast_failures: int = 0
    down_since: float | None = None
    restart_at: float | None = None
    restarts: int = 0
    given_up: bool = False


@dataclass
class Supervisor:
    """Polls its units from a thread of its own (`in_background`), or one `poll` at a time (tests)."""

    units: list[Unit]
    policy: RestartPolicy
    console: Console
    clock: Callable[[], float] = time.monotonic
    _watches: list[_Watch] = field(init=False)

    def __post_init__(self) -> None:
        now = self.clock()
        self._watches = [_Watch(unit, started_at=now) for unit in self.units]

    @property
    def given_up(self) -> list[str]:
        return [watch.unit.name for watch in self._watches if watch.given_up]

    def poll(self) -> None:
        for watch in self._watches:
            if not watch.given_up:
                self._poll_one(watch)

    def _poll_one(self, watch: _Watch) -> None:
        now = self.clock()
        unit = watch.unit
        if watch.restart_at is None:
            if unit.running():
                if watch.down_since is not None and unit.answering():
                    self._say(unit, f"serving again, {now - watch.down_since:.1f} s after it went down")
                    watch.down_since = None
                return
            uptime = now - watch.started_at
            watch.fast_failures = watch.fast_failures + 1 if uptime < self.policy.min_uptime_seconds else 0
            if watch.down_since is None:
                watch.down_since = now
            self._schedule(watch, f"{unit.went_down()} (it ran {uptime:.1f} s)", now)
            return
        if now < watch.restart_at:
            return
        watch.restart_at = None
        watch.restarts += 1
        watch.started_at = now
        try:
            unit.start()
        except Exception as error:  # a server that cannot start yet (e.g. its old processes still exit)
            watch.fast_failures += 1
            self._schedule(watch, f"could not start: {type(error).__name__}: {error}", self.clock())
            return
        self._say(unit, f"restarted (restart {watch.restarts})")

    def _schedule(self, watch: _Watch, what: str, now: float) -> None:
        unit = watch.unit
        if watch.fast_failures >= self.policy.max_fast_failures:
            watch.given_up = True
            self.console.print(
                f"[bold red]{unit.name} gave up: {escape(what)}; {watch.fast_failures} fast failures in a row (each "
                f"run shorter than {self.policy.min_uptime_seconds:.0f} s). It stays down, the rest keep "
                f"serving; fix the cause and restart rlhf up.[/bold red]",
                highlight=False,
            )
            return
        delay = self.policy.backoff(watch.fast_failures)
        watch.restart_at = now + delay
        self._say(unit, f"[red]{escape(what)}[/red]; restarting in {delay:g} s", markup=True)

    def _say(self, unit: Unit, message: str, *, markup: bool = False) -> None:
        text = message if markup else escape(message)
        self.console.print(
            f"[{unit.colour}]{unit.name:>9} |[/{unit.colour}] {text}", highlight=False, soft_wrap=True
        )

    def run(self, stop: threading.Event, *, interval: float = 0.5) -> None:
        while not stop.wait(interval):
            try:
                self.poll()
            except Exception:  # a bug here must not end supervision of everything else
                self.console.print_exception()

    def in_background(self, *, interval: float = 0.5) -> _Background:
        return _Background(self, interval)


class _Background:
    """The supervisor on a thread, for a `with` block: stopped (and joined) before the units are stopped."""

    def __init__(self, supervisor: Supervisor, interval: float) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(
            target=supervisor.run,
            args=(self.stop,),
            kwargs={"interval": interval},
            name="supervisor",
            daemon=True,
        )

    def __enter__(self) -> _Background:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
