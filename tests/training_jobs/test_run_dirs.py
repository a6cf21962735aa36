"""The sweep of run directories: only those of a job running that very attempt are kept."""

from __future__ import annotations

import httpx
from sqlalchemy.orm import Session

from services.core.orm import Job
from tests.helpers.jobs import create_dataset
from training_jobs import run_dirs


def test_sweep_keeps_the_directories_of_running_attempts_only(admin: httpx.Client, db: Session):
    dataset = create_dataset(admin, 0)
    running = Job(kind="sft", dataset_id=dataset["id"], params={}, status="running", attempts=2)
    finished = Job(kind="sft", dataset_id=dataset["id"], params={}, status="failed", attempts=1)
    db.add_all([running, finished])
    db.commit()
    live = run_dirs.for_run(running.id, 2)
    earlier = run_dirs.for_run(running.id, 1)
    dead = run_dirs.for_run(finished.id, 1)
    unrelated = live.scratch.parent / "not-a-run"
    for path in (
        live.output,
        live.scratch,
        earlier.output,
        earlier.scratch,
        dead.output,
        dead.scratch,
        unrelated,
    ):
        path.mkdir(parents=True)
        (path / "weights.bin").write_bytes(b"x")

    swept = run_dirs.sweep()

    assert {earlier.output, earlier.scratch, dead.output, dead.scratch} <= set(swept)
    assert not any(p.exists() for p in (earlier.output, earlier.scratch, dead.output, dead.scratch))
    assert live.output.is_dir() and live.scratch.is_dir() and unrelated.is_dir()
    assert live.output.name.startswith(f".job-{running.id}-a2-")
    running.status = "cancelled"
    db.commit()
    run_dirs.remove(live)
