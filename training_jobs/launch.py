"""One job on several processes: `params.num_processes > 1` runs the job's module under `accelerate launch`.

DDP by default (NCCL on GPUs, gloo on a machine without CUDA); DeepSpeed or FSDP through the accelerate
config file named in settings (RLHF_ACCELERATE_CONFIG_FILE). Every rank runs the same module
(`python -m training_jobs.launch JOB_ID OUTPUT_DIR SCRATCH_DIR`); rank 0 writes progress to the job row,
saves the model and leaves an outcome file for the worker, which stores the version as for any job.
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
from collections import deque
from pathlib import Path

from services.core.enums import ModelKind
from services.core.net import free_port
from services.core.settings import get_settings
from training_jobs.context import (
    JobCancelled,
    JobInputError,
    JobReporter,
    JobResult,
    is_main_process,
    to_json,
)
from training_jobs.execution import JobSpec, Outcome, run_here

logger = logging.getLogger(__name__)

OUTCOME_FILE = "job_outcome.json"
OUTPUT_TAIL_LINES = 30
PR_SET_PDEATHSIG = 1


def launch_command(spec: JobSpec, output_dir: Path, scratch_dir: Path, *, num_processes: int) -> list[str]:
    command = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(num_processes)]
    config_file = get_settings().accelerate_config_file
    if config_file is not None:
        command += ["--config_file", str(config_file)]
    else:
        # --multi_gpu selects the torchrun launcher, also without a GPU: accelerate's --cpu launcher starts a
        # single process (several need mpirun). On CPU the ranks then train with use_cpu=True: DDP over gloo.
        command += ["--multi_gpu", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    command += ["--main_process_port", str(free_port())]
    command += ["-m", "training_jobs.launch", str(spec.id), str(output_dir), str(scratch_dir)]
    return command


def _launch_env() -> dict[str, str]:
    import torch

    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    if not torch.cuda.is_available():
        env["ACCELERATE_USE_CPU"] = "true"
    return env


def _die_with_parent() -> None:
    # The launcher goes when the worker goes, even on SIGKILL (Linux); its ranks then stop at their next
    # step, because the watchdog marks the job failed and rank 0 reads that.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def run_launched(spec: JobSpec, output_dir: Path, scratch_dir: Path, *, num_processes: int) -> Outcome:
    """Run the job on `num_processes` ranks and wait; raise as a single-process run would."""
    scratch_dir.mkdir(parents=True, exist_ok=True)
    command = launch_command(spec, output_dir, scratch_dir, num_processes=num_processes)
    logger.info("job %s: %s", spec.id, " ".join(command))
    tail: deque[str] = deque(maxlen=OUTPUT_TAIL_LINES)
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_launch_env(),
        preexec_fn=_die_with_parent,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            tail.append(line.rstrip())
            logger.info("job %s | %s", spec.id, line.rstrip())
        code = process.wait()
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    outcome_path = scratch_dir / OUTCOME_FILE
    if not outcome_path.is_file():
        shown = "\n".join(tail)
        raise RuntimeError(f"accelerate launch exited with code {code} before the job finished:\n{shown}")
    record = json.loads(outcome_path.read_text())
    if record["status"] == "cancelled":
        raise JobCancelled(f"job {spec.id} cancelled")
    if record["status"] == "input_error":
        raise JobInputError(record["message"])
    if record["status"] == "error":
        raise RuntimeError(record["message"])
    if code != 0:
        raise RuntimeError(f"accelerate launch exited with code {code} after rank 0 finished")
    outcome = record["outcome"]
    result = outcome["result"]
    kind = result["model_kind"]
    return Outcome(**{**outcome, "result": JobResult(**{**result, "model_kind": kind and ModelKind(kind)})})


def main(argv: list[str] | None = None) -> int:
    """One rank of a launched job."""
    parser = argparse.ArgumentParser(description="One rank of a job under accelerate launch.")
    parser.add_argument("job_id", type=int)
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("scratch_dir", type=Path)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format=f"rank {os.environ.get('RANK', '0')} %(levelname)s: %(message)s"
    )
    spec = JobSpec.load(args.job_id)
    reporter = JobReporter(spec.id, attempt=spec.attempt, enabled=is_main_process())
    code = 0
    try:
        outcome = run_here(spec, args.output_dir, args.scratch_dir, reporter)
        record = {"status": "succeeded", "outcome": to_json(dataclasses.asdict(outcome))}
    except JobCancelled:
        record = {"status": "cancelled"}
    except JobInputError as error:
        record = {"status": "input_error", "message": str(error)}
    except Exception as error:
        logger.exception("rank failed")
        record = {"status": "error", "message": f"{type(error).__name__}: {error}"}
        code = 1
    if is_main_process():
        (args.scratch_dir / OUTCOME_FILE).write_text(json.dumps(record))
    _leave_process_group()
    return code


def _leave_process_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    raise SystemExit(main())
