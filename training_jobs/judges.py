"""The judges of ai_feedback jobs: each takes judge prompts (the pair in one order, services/domain/job_params/
ai_feedback.py) and answers each with a letter, A or B, read from the first token of its answer.

- EndpointJudge: any OpenAI-compatible /chat/completions (this platform's inference service among them), over
  httpx, greedy. With `logprobs` the first token's top log-probabilities decide between A and B (the mass on
  each letter); else the answer's first letter does. The API key comes from an environment variable of the
  worker, read when the job starts, never stored. A refused connection, a timeout or an error status fails
  the job with a message naming the endpoint.
- ModelJudge: a causal LM run here with transformers: the prompt through its chat template when it has one,
  one forward pass, and the next-token probabilities of A and B compared (no sampling, no parsing).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from services.domain.job_params import AiFeedbackParams, JudgeParams
from training_jobs import checkpoints
from training_jobs.chat_format import encode_prompt
from training_jobs.context import JobContext, JobInputError

LETTERS = ("A", "B")
# OpenAI's API gives at most 20 alternatives per token, this platform's inference service 5.
TOP_LOGPROBS = 5
FIRST_LETTER = re.compile(r"^\W*([AB])\b")


@dataclass(frozen=True)
class Answer:
    """One judgement of one order: the letter chosen (None: the answer names neither), the probability mass
    on each letter where known, and the judge's raw answer text."""

    letter: str | None
    p_a: float | None
    p_b: float | None
    text: str

    def as_json(self) -> dict[str, Any]:
        return {"letter": self.letter, "p_a": self.p_a, "p_b": self.p_b, "text": self.text}


def by_mass(p_a: float | None, p_b: float | None, text: str) -> Answer:
    """The letter with more probability mass, else (no mass on either) the answer's first letter."""
    letter: str | None
    if (p_a or 0.0) > 0.0 or (p_b or 0.0) > 0.0:
        letter = "A" if (p_a or 0.0) >= (p_b or 0.0) else "B"
    else:
        match = FIRST_LETTER.match(text)
        letter = match.group(1) if match else None
    return Answer(letter, p_a, p_b, text)


class EndpointJudge:
    kind = "endpoint"

    def __init__(self, judge: JudgeParams, params: AiFeedbackParams) -> None:
        assert judge.base_url is not None and judge.model is not None
        self.name = judge.model
        self.url = judge.base_url.rstrip("/") + "/chat/completions"
        self.model = judge.model
        self.params = params
        headers = {}
        if judge.api_key_env is not None:
            key = os.environ.get(judge.api_key_env)
            if not key:
                raise JobInputError(
                    f"params.judge.api_key_env: the environment variable {judge.api_key_env} is not set on the "
                    "worker (the judge's API key is read from it, never stored)"
                )
            headers["Authorization"] = f"Bearer {key}"
        self.client = httpx.Client(headers=headers, timeout=params.timeout_seconds)

    def close(self) -> None:
        self.client.close()

    def __call__(self, prompts: Sequence[str]) -> list[Answer]:
        with ThreadPoolExecutor(max_workers=min(len(prompts), self.params.concurrency) or 1) as pool:
            return list(pool.map(self._ask, prompts))

    def _ask(self, prompt: str) -> Answer:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": self.params.max_tokens,
            "temperature": 0,
        }
        if self.params.logprobs:
            body |= {"logprobs": True, "top_logprobs": TOP_LOGPROBS}
        try:
            response = self.client.post(self.url, json=body)
        except httpx.TimeoutException:
            raise JobInputError(
                f"the judge endpoint {self.url} did not answer within {self.params.timeout_seconds:g} s "
                "(params.timeout_seconds)"
            ) from None
        except httpx.HTTPError as error:
            raise JobInputError(
                f"the judge endpoint {self.url} could not be reached: {type(error).__name__}: {error}"
            ) from None
        if response.status_code >= 400:
            raise JobInputError(
                f"the judge endpoint {self.url} refused the request with HTTP {response.status_code}: "
                f"{response.text[:500]}"
            )
        try:
            choice = response.json()["choices"][0]
            text = choice["message"]["content"] or ""
            tokens = (choice.get("logprobs") or {}).get("content") or []
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise JobInputError(
                f"the judge endpoint {self.url} answered something that is not a chat completion: "
                f"{response.text[:300]!r} ({type(error).__name__})"
            ) from None
        if not self.params.logprobs or not tokens:
            return by_mass(None, None, text)
        mass = dict.fromkeys(LETTERS, 0.0)
        for candidate in tokens[0].get("top_logprobs") or []:
            letter = str(candidate.get("token", "")).strip()
            if letter in mass and candidate.get("logprob") is not None:
                mass[letter] += math.exp(float(candidate["logprob"]))
        return by_mass(mass["A"], mass["B"], text)


class ModelJudge:
    kind = "worker"

    def __init__(self, source: checkpoints.ModelSource, params: AiFeedbackParams) -> None:
        from services.modeling.device import device

        self.name = source.name
        self.params = params
        self.tokenizer = checkpoints.load_tokenizer(source.path)
        self.tokenizer.padding_side = "left"  # the next token follows each row's right edge
        self.device = device()
        self.model = checkpoints.load_causal_lm(source.path).to(self.device).eval()
        # A letter may be its own token or follow a space (a template-less model after "Answer:").
        self.letter_ids = {letter: self._first_tokens(letter) for letter in LETTERS}

    def _first_tokens(self, letter: str) -> list[int]:
        ids = {self.tokenizer.encode(text, add_special_tokens=False)[0] for text in (letter, f" {letter}")}
        return sorted(ids)

    def close(self) -> None:
        del self.model

    def __call__(self, prompts: Sequence[str]) -> list[Answer]:
        import torch

        rows = [encode_prompt(self.tokenizer, p, budget=self.params.max_prompt_tokens) for p in prompts]
        encoded = self.tokenizer.pad({"input_ids": rows}, return_tensors="pt").to(self.device)
        # Positions count real tokens only, so a left-padded row reads as it would alone (absolute position
        # embeddings, as GPT-2's, would otherwise shift by the padding).
        positions = (encoded["attention_mask"].cumsum(dim=-1) - 1).clamp(min=0)
        with torch.inference_mode():
            logits = self.model(**encoded, position_ids=positions).logits[:, -1, :].float()
        probabilities = torch.softmax(logits, dim=-1)
        answers = []
        for row in probabilities:
            p_a = float(row[self.letter_ids["A"]].sum())
            p_b = float(row[self.letter_ids["B"]].sum())
            text = self.tokenizer.decode([int(row.argmax())])
            answers.append(Answer("A" if p_a >= p_b else "B", p_a, p_b, text))
        return answers


def open_judge(ctx: JobContext[AiFeedbackParams]) -> EndpointJudge | ModelJudge:
    """The judge `params.judge` names, ready to answer."""
    judge = ctx.params.judge
    assert judge is not None  # AiFeedbackParams.check
    if judge.base_url is not None:
        return EndpointJudge(judge, ctx.params)
    if judge.model_version_id is not None:
        return ModelJudge(checkpoints.policy_source(ctx, judge.model_version_id), ctx.params)
    assert judge.base_model is not None
    return ModelJudge(checkpoints.base_model_source(judge.base_model), ctx.params)
