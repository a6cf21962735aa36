"""params.min_warmup_steps: Llama 2's warm-up of 3 % of the steps with a minimum of 5, and its cosine decay to
10 % of the peak, as the scheduler a transformers/TRL trainer builds from the job's config runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import Trainer
from trl import RewardConfig

from training_jobs.trl_config import with_min_warmup

PEAK = 1e-5


def schedule(config: RewardConfig, steps: int) -> list[float]:
    """The learning rate at each of `steps` optimizer steps, from the trainer's own scheduler."""
    trainer = Trainer(model=torch.nn.Linear(2, 1), args=config)
    trainer.create_optimizer_and_scheduler(num_training_steps=steps)
    optimizer, scheduler = trainer.optimizer, trainer.lr_scheduler
    assert optimizer is not None and scheduler is not None
    rates = []
    for _ in range(steps):
        rates.append(float(scheduler.get_last_lr()[0]))
        optimizer.step()
        scheduler.step()
    return rates


@pytest.fixture
def config(tmp_path: Path) -> RewardConfig:
    return RewardConfig(
        output_dir=str(tmp_path),
        report_to="none",
        use_cpu=True,
        bf16=False,
        learning_rate=PEAK,
        lr_scheduler_type="cosine_with_min_lr",
        lr_scheduler_kwargs={"min_lr_rate": 0.1},
        warmup_steps=0.03,
    )


def test_warm_up_lasts_at_least_the_minimum_and_otherwise_3_percent(config: RewardConfig):
    with_min_warmup(config, 5)

    assert config.get_warmup_steps(100) == 5  # 3 % of 100 steps is 3
    assert config.get_warmup_steps(1000) == 30
    short = schedule(config, 100)
    assert short[5] == pytest.approx(PEAK) and short[4] < PEAK and short[:5] == sorted(short[:5])
    assert short[-1] == pytest.approx(0.1 * PEAK, rel=0.01)  # cosine down to 10 % of the peak


def test_without_a_minimum_the_fraction_alone_applies(config: RewardConfig):
    with_min_warmup(config, 0)

    assert config.get_warmup_steps(100) == 3
    assert schedule(config, 100)[3] == pytest.approx(PEAK)
