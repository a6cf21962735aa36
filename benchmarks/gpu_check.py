"""The CUDA path, checked once: a reward_model job and a ppo job through the API on the GPU, then the same
two jobs with the GPU hidden (CPU), and the speed-up; prints JSON. Needs a machine with a CUDA GPU (the
CPU pass runs anywhere: --devices cpu).

    python benchmarks/gpu_check.py                     # cuda, then cpu
    python benchmarks/gpu_check.py --devices cpu --pairs 200 --episodes 64    # the script itself, anywhere
    python benchmarks/gpu_check.py --devices cpu --profile-steps 3            # where the steps' time goes

Each pass starts its own stack (benchmarks/scratch_stack.py): a reward model on MiniLM from the first
--pairs ETHICS training pairs, then PPO on the built-in tiny GPT-2 against it, prompts from the
OpenAssistant trees. Reported per device: each job's train_seconds (inside the job), its wall time from
submission, the device the job logged, and for the reward model its held-out accuracy.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # `python benchmarks/gpu_check.py` runs from anywhere

from benchmarks import reward_quality  # noqa: E402
from benchmarks.scratch_stack import scratch_stack  # noqa: E402
from services.client import CollectorClient  # noqa: E402
from services.collector.schemas import JobPublic  # noqa: E402
from services.core.artifacts import version_path  # noqa: E402
from services.core.enums import ImportFormat, JobKind  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", default="cuda,cpu", help="comma-separated: cuda, cpu")
    parser.add_argument("--pairs", type=int, default=2000, help="ETHICS training pairs for the reward model")
    parser.add_argument("--episodes", type=int, default=512, help="PPO total_episodes")
    parser.add_argument(
        "--reward-base-model",
        default=reward_quality.MINILM,
        help="the reward model's base (a local copy where the MiniLM wheel is not installed)",
    )
    parser.add_argument(
        "--profile-steps",
        type=int,
        default=0,
        help="params.profile_steps of both jobs: where their steps spend their time (training_jobs/profiling.py)",
    )
    parser.add_argument("--data-dir", type=Path, default=HERE.parent / "tests" / "data")
    parser.add_argument("--database-url", help="PostgreSQL server for the scratch database (default: local)")
    return parser.parse_args()


def run_job(
    client: CollectorClient, kind: JobKind, dataset_id: int, *, worker_pid: int, **body: Any
) -> tuple[JobPublic, float]:
    """reward_quality's run_job: (the finished job, its wall seconds from submission)."""
    job, wall, _ = reward_quality.run_job(client, kind, dataset_id, worker_pid=worker_pid, **body)
    return job, round(wall, 1)


def device_logged(job: JobPublic) -> str:
    """The device the job ran on: its first log line, or, once that left the log tail, its TRL config."""
    line = next((line for line in job.log_tail.splitlines() if " started on " in line), "")
    if line:
        return line.split(" started on ", 1)[-1].split(" ")[0]
    config = job.config
    if "use_cpu" not in config:
        return "unknown"
    return "cpu" if config["use_cpu"] else "cuda" + (" (bf16)" if config.get("bf16") else "")


def profile_of(client: CollectorClient, job: JobPublic) -> dict[str, Any] | None:
    """The job's profile.json (params.profile_steps), beside its version's weights: called inside the scratch
    stack, whose settings (its artifact store) this process has while it runs."""
    if job.model_version_id is None:
        return None
    path = version_path(client.get_model(job.model_version_id).path) / "profile.json"
    return json.loads(path.read_text()) if path.is_file() else None


def one_pass(args: argparse.Namespace, device: str) -> dict[str, Any]:
    # Hiding the GPU from the whole stack hides it from the worker, the only process that computes.
    env = {"CUDA_VISIBLE_DEVICES": ""} if device == "cpu" else {}
    with scratch_stack(args.database_url, env=env) as stack:
        client, worker_pid = stack.client, stack.pid("worker")
        pairs = reward_quality.read_pairs(args.data_dir / "ethics_utilitarianism_train.csv", args.pairs)
        dataset_id, _ = reward_quality.import_training_data(client, pairs)
        profiling = {"profile_steps": args.profile_steps} if args.profile_steps else {}
        reward, reward_wall = run_job(
            client,
            JobKind.REWARD_MODEL,
            dataset_id,
            base_model=args.reward_base_model,
            params=profiling,
            worker_pid=worker_pid,
        )
        prompts = client.create_dataset("oasst-prompts")
        oasst = (args.data_dir / "oasst_en_100_ranked_trees.jsonl").read_bytes()
        client.import_jsonl(prompts.id, oasst, format=ImportFormat.OASST)
        ppo_params = {
            "reward_model_version_id": reward.model_version_id,
            "total_episodes": args.episodes,
            **profiling,
        }
        ppo, ppo_wall = run_job(
            client,
            JobKind.PPO,
            prompts.id,
            base_model="builtin:tiny-gpt2",
            params=ppo_params,
            worker_pid=worker_pid,
        )
        profiles = {name: profile_of(client, job) for name, job in (("reward_model", reward), ("ppo", ppo))}
    return {
        "reward_model": {
            "device": device_logged(reward),
            "train_seconds": reward.metrics["train_seconds"],
            "wall_seconds": reward_wall,
            "train_pairs": reward.metrics["train_pairs"],
            "held_out_accuracy": reward.metrics.get("eval_accuracy"),
            "profile": profiles["reward_model"],
        },
        "ppo": {
            "device": device_logged(ppo),
            "train_seconds": ppo.metrics["train_seconds"],
            "wall_seconds": ppo_wall,
            "reward_before": ppo.metrics.get("reward_before"),
            "reward_after": ppo.metrics.get("reward_after"),
            "kl": ppo.metrics.get("kl"),
            "profile": profiles["ppo"],
        },
    }


def main() -> None:
    args = parse_args()
    result: dict[str, Any] = {
        "benchmark": "gpu_check",
        "pairs": args.pairs,
        "ppo_total_episodes": args.episodes,
    }
    with contextlib.redirect_stdout(sys.stderr):
        for device in args.devices.split(","):
            result[device] = one_pass(args, device)
    if "cuda" in result and "cpu" in result:
        result["speedup"] = {
            kind: round(result["cpu"][kind]["train_seconds"] / result["cuda"][kind]["train_seconds"], 2)
            for kind in ("reward_model", "ppo")
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
