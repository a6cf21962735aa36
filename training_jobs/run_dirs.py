"""A job run's working directories, named after the job and its attempt, and the sweep of those a dead
worker left behind.

A run writes its model into an output directory inside the artifact root (the final move into the version
directory is then a rename on one filesystem) and its temporary files into a scratch directory in the state
dir. The run removes both when it ends; a worker that is killed (SIGKILL, out of memory) cannot, so each
worker sweeps at start and before each job: a directory is kept only while its job is running that very
attempt (on this worker or another one sharing the volumes).
"""

from __future__ import annotations

import logging
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from services.core.artifacts import artifact_root
from services.core.db import session_scope
from services.core.enums import JobStatus
from services.core.orm import Job
from services.core.settings import get_settings

logger = logging.getLogger(__name__)

OUTPUT_PREFIX = ".job-"
SCRATCH_PREFIX = "job-"
# What follows the prefix: job id, attempt, and a token that keeps two runs of one attempt apart.
RUN_NAME = re.compile(r"(\d+)-a(\d+)-[0-9a-f]+")


@dataclass(frozen=True)
class RunDirs:
    output: Path
    scratch: Path


def scratch_root() -> Path:
    return get_settings().state_dir.resolve() / "scratch"


def for_run(job_id: int, attempt: int) -> RunDirs:
    name = f"{job_id}-a{attempt}-{uuid.uuid4().hex[:8]}"
    return RunDirs(
        output=artifact_root() / f"{OUTPUT_PREFIX}{name}", scratch=scratch_root() / f"{SCRATCH_PREFIX}{name}"
    )


def remove(dirs: RunDirs) -> None:
    shutil.rmtree(dirs.output, ignore_errors=True)
    shutil.rmtree(dirs.scratch, ignore_errors=True)


def sweep() -> list[Path]:
    """Remove the run directories whose job is not running that attempt any more; return what went.

    Best effort: a failure is logged and the next sweep (the next job, the next worker start) tries again."""
    try:
        return _sweep()
    except (OSError, SQLAlchemyError):
        logger.warning("could not sweep the run directories; the next sweep retries", exc_info=True)
        return []


def _sweep() -> list[Path]:
    found: dict[Path, tuple[int, int]] = {}
    for root, prefix in ((artifact_root(), OUTPUT_PREFIX), (scratch_root(), SCRATCH_PREFIX)):
        if not root.is_dir():
            continue
        for path in root.iterdir():
            match = RUN_NAME.fullmatch(path.name[len(prefix) :]) if path.name.startswith(prefix) else None
            if match is not None:
                found[path] = (int(match[1]), int(match[2]))
    if not found:
        return []
    job_ids = {job_id for job_id, _ in found.values()}
    with session_scope() as session:
        live = set(
            session.execute(
                select(Job.id, Job.attempts).where(Job.id.in_(job_ids), Job.status == JobStatus.RUNNING)
            ).tuples()
        )
    swept = [path for path, run in found.items() if run not in live]
    for path in swept:
        shutil.rmtree(path, ignore_errors=True)
        logger.warning("removed %s, left by a run that is not running any more", path)
    return swept
