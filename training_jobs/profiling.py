"""Where a job's training steps spend their time, with torch.profiler: a training job with params.profile_steps N
profiles N steps of each of its trainers (after one step of warm-up), logs a line for each, and writes the
last one's summary (the main phase, after a reward model's or classifier's head-only probe) into its new
version's folder (profile.json; profile.txt: the top operators).

On a CPU, "host overhead" is the wall time of the profiled steps spent outside torch operators: the
trainer's Python loop, tokenization, collation, the platform's own work (labelled `rlhf.*` with
record_function). On a GPU, the same summary has the device's busy share: kernel time over wall time. A
GPU that sits idle most of a step is waiting on that host work; docs/training-notes.md has the findings.
"""

from __future__ import annotations

import json
import time
from typing import Any

from transformers import TrainerCallback

from training_jobs.context import JobContext

WARMUP_STEPS = 1
# The record_function label of the platform's reward scoring inside a step (training_jobs/reward_adapter.py).
REWARD_SPAN = "rlhf.reward"
# Wrapper events whose total (not self) time is a category of its own; their operators are counted in the
# operator total as well.
CATEGORIES = {
    "data_loading": "enumerate(DataLoader)",
    "optimizer": "Optimizer.step",
    "platform_reward": REWARD_SPAN,
}


class StepProfiler(TrainerCallback):
    """Profiles training steps WARMUP_STEPS+1 .. WARMUP_STEPS+steps of each trainer of the job (rank 0)."""

    def __init__(self, ctx: JobContext, steps: int) -> None:
        self.ctx = ctx
        self.steps = steps
        self.profiler: Any = None  # while steps are being profiled
        self.started_at = 0.0

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not self.ctx.is_main_process:
            return
        if self.profiler is None and state.global_step == WARMUP_STEPS:
            import torch
            from torch.profiler import ProfilerActivity, profile

            activities = [ProfilerActivity.CPU]
            if torch.cuda.is_available():
                activities.append(ProfilerActivity.CUDA)
                torch.cuda.synchronize()
            self.profiler = profile(activities=activities)
            self.profiler.__enter__()
            self.started_at = time.perf_counter()
        elif self.profiler is not None and state.global_step >= WARMUP_STEPS + self.steps:
            self._finish(state.global_step - WARMUP_STEPS)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.profiler is not None:  # a trainer that ended within the profiled steps
            self._finish(state.global_step - WARMUP_STEPS)

    def _finish(self, steps: int) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        wall = time.perf_counter() - self.started_at
        profiler, self.profiler = self.profiler, None
        profiler.__exit__(None, None, None)
        events = profiler.key_averages()
        summary = summarize(events, wall=wall, steps=steps)
        (self.ctx.output_dir / "profile.json").write_text(json.dumps(summary, indent=2) + "\n")
        (self.ctx.output_dir / "profile.txt").write_text(
            events.table(sort_by="self_cpu_time_total", row_limit=40) + "\n"
        )
        self.ctx.log(
            f"profile of {steps} step(s): {summary['wall_seconds']:.2f}s, "
            f"{summary['torch_op_fraction']:.0%} in torch operators, "
            f"{summary['data_loading_fraction']:.0%} loading data, "
            f"{summary['host_syncs']} host syncs"
            + (
                f", device busy {summary['device_busy_fraction']:.0%}"
                if summary["device_busy_fraction"] is not None
                else ""
            )
        )


def summarize(events: Any, *, wall: float, steps: int) -> dict[str, Any]:
    """The profiled window's wall time split: operators (self time of every aten:: event, so nothing counts
    twice), the CATEGORIES' wrappers, device kernels, host syncs, and the top operators."""
    operators = [event for event in events if event.key.startswith("aten::")]
    op_seconds = sum(event.self_cpu_time_total for event in operators) / 1e6
    device_seconds = sum(getattr(event, "self_device_time_total", 0) for event in events) / 1e6
    summary: dict[str, Any] = {
        "steps": steps,
        "wall_seconds": round(wall, 3),
        "seconds_per_step": round(wall / max(steps, 1), 3),
        "torch_op_seconds": round(op_seconds, 3),
        "torch_op_fraction": round(op_seconds / wall, 3),
        "outside_torch_op_fraction": round(1 - op_seconds / wall, 3),
        # On a GPU each is a kernel launch, paid on the host whatever the batch: many small ones keep it idle.
        "operator_calls_per_step": round(sum(event.count for event in operators) / max(steps, 1)),
    }
    for name, prefix in CATEGORIES.items():
        seconds = sum(event.cpu_time_total for event in events if event.key.startswith(prefix)) / 1e6
        summary[f"{name}_seconds"] = round(seconds, 3)
        summary[f"{name}_fraction"] = round(seconds / wall, 3)
    # Each .item(), .tolist() or bool(tensor) reads a value back: on a GPU the host waits for the device.
    summary["host_syncs"] = sum(event.count for event in events if event.key == "aten::_local_scalar_dense")
    summary["device_busy_fraction"] = round(device_seconds / wall, 3) if device_seconds else None
    summary["top_operators"] = [
        {"name": event.key, "calls": event.count, "self_seconds": round(event.self_cpu_time_total / 1e6, 3)}
        for event in sorted(operators, key=lambda event: event.self_cpu_time_total, reverse=True)[:12]
    ]
    return summary
