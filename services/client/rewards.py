"""PlatformReward: the inference service's `POST /reward` as a TRL reward function.

TRL's GRPOTrainer and RLOOTrainer call each of their `reward_funcs` as
`func(prompts=[...], completions=[...], completion_ids=[...], **dataset_columns, trainer_state=..., ...)` and
name its logged metrics after `func.__name__` (trl/trainer/grpo_trainer.py, `_calculate_rewards`). So a TRL
script on any cluster scores with the platform's promoted reward model by passing
`reward_funcs=[PlatformReward("http://inference:8001")]`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import httpx

from services.client.errors import RewardServiceError

# Answers worth asking again: the service overloaded (429), no reward model loaded yet or a proxy's hiccup (5xx).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# The service's own limit on pairs per request (services/inference/schemas.py, MAX_REWARD_PAIRS).
MAX_BATCH = 256

Text = str | list[dict[str, Any]]


def message_text(value: Text) -> str:
    """A plain prompt or completion as it is; a conversational one (a list of messages) as its messages'
    text, joined by blank lines. A message's content may be a string or a list of content blocks."""
    if isinstance(value, str):
        return value
    parts = []
    for message in value:
        content = message.get("content", "")
        if isinstance(content, str):
            parts.append(content)
        else:
            parts.extend(block["text"] for block in content if block.get("type") == "text")
    return "\n\n".join(parts)


class PlatformReward:
    """Scores (prompt, completion) pairs with the promoted reward model, `batch_size` pairs per request.

    A request refused with 429 or 5xx, or that never reached the service, is sent again up to `retries` times,
    waiting `backoff` seconds and doubling; any other refusal raises RewardServiceError at once (a bad input
    does not get better). `reward` names a named reward (docs/rewards.md); none scores with `default`.
    `reference` (a dataset column of that name) goes along with each pair: what ROUGE and BLEU rewards compare
    against.
    """

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        reward: str | None = None,
        batch_size: int = 64,
        retries: int = 5,
        backoff: float = 0.5,
        timeout: float = 120.0,
        name: str = "platform_reward",
    ) -> None:
        if not 1 <= batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
        self.__name__ = name  # TRL names the reward's logged metrics after it
        self.reward = reward
        self.batch_size = batch_size
        self.retries = retries
        self.backoff = backoff
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout)
        self.model: str | None = None  # what scored the last batch (a version's name, or NAME@vN)

    def __call__(
        self,
        prompts: Sequence[Text],
        completions: Sequence[Text],
        reference: Sequence[str | None] | None = None,
        **_: Any,  # TRL's other keywords (completion_ids, trainer_state, dataset columns) are not needed
    ) -> list[float | None]:  # TRL's reward function type (None: no reward for a pair); every pair gets one
        if len(prompts) != len(completions) or (reference is not None and len(reference) != len(prompts)):
            raise ValueError("prompts, completions and reference must have the same length")
        pairs: list[dict[str, str]] = []
        for number, (prompt, completion) in enumerate(zip(prompts, completions, strict=True)):
            pair = {"prompt": message_text(prompt), "response": message_text(completion)}
            if reference is not None and reference[number] is not None:
                pair["reference"] = str(reference[number])
            pairs.append(pair)
        rewards: list[float | None] = []
        for start in range(0, len(pairs), self.batch_size):
            rewards.extend(self._score(pairs[start : start + self.batch_size]))
        return rewards

    def _score(self, batch: list[dict[str, str]]) -> list[float]:
        wait, attempt = self.backoff, 0
        while True:
            try:
                return self._post(batch)
            except RewardServiceError as error:
                if not error.retryable or attempt == self.retries:
                    raise
            time.sleep(wait)
            wait, attempt = wait * 2, attempt + 1

    def _post(self, batch: list[dict[str, str]]) -> list[float]:
        try:
            body: dict[str, Any] = {"inputs": batch}
            if self.reward is not None:
                body["reward"] = self.reward
            response = self.http.post("/reward", json=body)
        except httpx.TransportError as error:
            raise RewardServiceError(
                f"POST /reward did not reach the service: {error}", retryable=True
            ) from error
        if response.status_code != 200:
            raise RewardServiceError(
                f"POST /reward answered {response.status_code}: {response.text}",
                status_code=response.status_code,
                retryable=response.status_code in RETRY_STATUSES,
            )
        answer = response.json()
        self.model = answer["model"]
        return [float(reward) for reward in answer["rewards"]]

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> PlatformReward:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
