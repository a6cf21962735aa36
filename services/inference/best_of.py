"""TGI's `best_of`: sample n sequences for one /generate request and answer with one of them, the others in
`details.best_of_sequences` (router/src/infer: generate_best_of; its BestOfSequence shape).

Which one: TGI's rule, the highest mean log-probability per generated token; or, when a `default` reward
exists (a reward named default, or a promoted reward model: services/domain/rewards.resolve), the sequence it
scores highest for the request's input. `details.best_of_criterion` names the rule used, what scored, and
the chosen sequence's score (each of the others carries its own `score`).

The n sequences are one group of the generation batcher (services/inference/runtime.py): they share a
micro-batch and one policy version, each is its own row with its own seed (TGI refuses a seed with best_of
> 1: one seed would draw the same sequence n times), and a row's failure stays its own until the group
answers. A default reward that needs references (ROUGE, BLEU) cannot score a bare input: the log-probability
rule applies then.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
from typing import Any

from services.inference import tgi
from services.inference.errors import ModelUnavailableError
from services.inference.generation import GenerationRequest, GenerationResult
from services.inference.reward_requests import resolve_spec, score_request
from services.inference.rewards import RewardInput
from services.inference.runtime import Runtime
from services.inference.schemas import GenerateRequest
from services.inference.validation import SamplingParams
from services.modeling.combined_reward import RewardSpec

LOGPROB = "mean_logprob"
REWARD = "reward"


async def generate_best_of(
    runtime: Runtime, body: GenerateRequest, params: SamplingParams
) -> tuple[dict[str, Any], str]:
    """The answer (TGI's GenerateResponse) and the policy version that generated it."""
    requests = [
        GenerationRequest(body.inputs, dataclasses.replace(params, seed=random.getrandbits(64)))
        for _ in range(params.best_of)
    ]
    results = await runtime.generate(requests)
    criterion: dict[str, Any]
    found, spec = await _default_reward(runtime)
    if found:
        inputs = [RewardInput(body.inputs, result.generated_text) for result in results]
        scored = await runtime.score(score_request(runtime, spec, inputs, "best_of"))
        scores = scored.rewards
        criterion = {"name": REWARD, "reward": scored.model}
    else:
        scores = [mean_logprob(result) for result in results]
        criterion = {"name": LOGPROB}
    best = max(range(len(results)), key=lambda index: scores[index])  # the first of equals
    answer = tgi.generate_json(body, params, results[best])
    if "details" in answer:
        answer["details"]["best_of_sequences"] = [
            {**tgi.best_of_sequence_json(body, params, result), "score": scores[index]}
            for index, result in enumerate(results)
            if index != best
        ]
        answer["details"]["best_of_criterion"] = {**criterion, "score": scores[best]}
    return answer, results[best].model


def mean_logprob(result: GenerationResult) -> float:
    """TGI's rule: the mean log-probability of the generated tokens."""
    return statistics.fmean(token.logprob or 0.0 for token in result.tokens) if result.tokens else 0.0


async def _default_reward(runtime: Runtime) -> tuple[bool, RewardSpec | None]:
    """(whether a default reward can score the sequences, its named version: None for the promoted model)."""
    try:
        spec = await resolve_spec(runtime, None)
    except ModelUnavailableError:  # no default reward (or the promoted one is still loading)
        return False, None
    if spec is not None and spec.needs_reference:
        return False, None
    return True, spec
