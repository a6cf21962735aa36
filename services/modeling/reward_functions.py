"""Rewards computed from text with no model: the `function` components of a named reward
(services/domain/rewards.py), scored the same by the inference service and the worker.

- `rouge1`, `rouge2`, `rougeL`: ROUGE F-measure of the response against the reference, by Google's
  `rouge-score` (its default tokenizer, no stemming), in [0, 1].
- `bleu`: sacrebleu's sentence BLEU of the response against the reference, divided by 100 (so in [0, 1]).
- `length`: a penalty toward `target` words (or characters with `"unit": "chars"`): −|n − target| / target,
  0 at the target and −1 at none or at twice the target.
- `regex`: 1.0 when `pattern` matches the response (`re.search`; `"full": true` for `re.fullmatch`), else 0.0.

A function's options are the component's other keys, checked by the domain when the reward is created.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from services.core.enums import RewardFunction


class MissingReferenceError(ValueError):
    """A reference-based function was asked to score an input without a reference."""


@functools.cache
def _rouge_scorer(kind: str) -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer([kind])


def rouge(kind: str, response: str, reference: str) -> float:
    """rouge-score's F-measure of `kind` ("rouge1", "rouge2", "rougeL") with the reference as target."""
    return float(_rouge_scorer(kind).score(reference, response)[kind].fmeasure)


def bleu(response: str, reference: str) -> float:
    import sacrebleu

    return float(sacrebleu.sentence_bleu(response, [reference]).score) / 100.0


def length_penalty(response: str, *, target: int, unit: str = "words") -> float:
    size = len(response) if unit == "chars" else len(response.split())
    return -abs(size - target) / target


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def regex_match(response: str, *, pattern: str, full: bool = False) -> float:
    compiled = _compiled(pattern)
    found = compiled.fullmatch(response) if full else compiled.search(response)
    return 1.0 if found is not None else 0.0


def score_function(
    function: RewardFunction, options: Mapping[str, Any], response: str, reference: str | None
) -> float:
    """One input's score under one function with the component's options."""
    if function.needs_reference:
        if reference is None:
            raise MissingReferenceError(f"the {function} reward needs a reference")
        if function == RewardFunction.BLEU:
            return bleu(response, reference)
        return rouge(function.value, response, reference)
    if function == RewardFunction.LENGTH:
        return length_penalty(response, target=int(options["target"]), unit=str(options.get("unit", "words")))
    return regex_match(response, pattern=str(options["pattern"]), full=bool(options.get("full", False)))
