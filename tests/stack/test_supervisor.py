"""The restart policy, step by step on a manual clock: backoff doubling with each fast failure, a slate wiped
by a long run, giving up, and a start that raises counted as a failure. (Real processes: test_supervision.py.)"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from rich.console import Console

from services.supervisor import RestartPolicy, Supervisor


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Unit:
    """A unit whose life the test decides: `up` says whether it runs; `start` may be told to fail."""

    name: str = "worker"
    colour: str = "magenta"
    up: bool = True
    refuse_starts: int = 0
    starts: list[float] = field(default_factory=list)
    clock: Clock = field(default_factory=Clock)

    def running(self) -> bool:
        return self.up

    def went_down(self) -> str:
        return "killed by SIGKILL"

    def start(self) -> None:
        self.starts.append(self.clock.now)
        if self.refuse_starts:
            self.refuse_starts -= 1
            raise RuntimeError("port in use")
        self.up = True

    def answering(self) -> bool:
        return True


def supervised(unit: Unit, policy: RestartPolicy) -> tuple[Supervisor, io.StringIO]:
    out = io.StringIO()
    return Supervisor([unit], policy, Console(file=out, width=300), clock=unit.clock), out


def advance_until_started(
    supervisor: Supervisor, unit: Unit, *, step: float = 0.25, limit: float = 120
) -> float:
    """Poll on the manual clock until the unit is started again; the clock time it was."""
    before = len(unit.starts)
    while len(unit.starts) == before:
        assert unit.clock.now < limit, "never restarted"
        unit.clock.now += step
        supervisor.poll()
    return unit.starts[-1]


def test_fast_failures_double_the_backoff_then_the_unit_is_given_up_on() -> None:
    unit = Unit()
    supervisor, out = supervised(
        unit, RestartPolicy(backoff_seconds=1, min_uptime_seconds=10, max_fast_failures=4)
    )
    waits = []
    for _ in range(3):
        unit.up = False
        died = unit.clock.now
        supervisor.poll()
        waits.append(advance_until_started(supervisor, unit) - died)
    assert waits == [1.0, 2.0, 4.0]
    unit.up = False
    supervisor.poll()
    assert supervisor.given_up == ["worker"]
    unit.clock.now += 100
    supervisor.poll()
    assert len(unit.starts) == 3  # left down
    assert "4 fast failures in a row" in out.getvalue()


def test_a_long_run_wipes_the_slate() -> None:
    unit = Unit()
    supervisor, _ = supervised(
        unit, RestartPolicy(backoff_seconds=1, min_uptime_seconds=10, max_fast_failures=2)
    )
    unit.up = False
    supervisor.poll()
    advance_until_started(supervisor, unit)  # one fast failure
    unit.clock.now += 60  # then a long run
    unit.up = False
    died = unit.clock.now
    supervisor.poll()
    assert advance_until_started(supervisor, unit) - died == 1.0
    assert supervisor.given_up == []


def test_a_start_that_raises_counts_as_a_fast_failure_and_is_retried() -> None:
    unit = Unit(refuse_starts=2)
    supervisor, out = supervised(
        unit, RestartPolicy(backoff_seconds=1, min_uptime_seconds=10, max_fast_failures=5)
    )
    unit.up = False
    supervisor.poll()
    first = advance_until_started(supervisor, unit)
    second = advance_until_started(supervisor, unit)
    third = advance_until_started(supervisor, unit)
    assert (second - first, third - second) == (2.0, 4.0)
    assert unit.up
    assert "could not start: RuntimeError: port in use" in out.getvalue()
