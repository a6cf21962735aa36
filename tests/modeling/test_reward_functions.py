"""Reward functions (services/modeling/reward_functions.py) against the libraries they wrap, and the rule that
combines a named reward's components (services/modeling/combined_reward.py)."""

from __future__ import annotations

import math

import pytest
import sacrebleu
from rouge_score import rouge_scorer

from services.core.enums import RewardFunction
from services.modeling.combined_reward import RewardSpec
from services.modeling.reward_functions import MissingReferenceError, score_function

REFERENCE = "the cat sat on the mat near the door"
RESPONSE = "a cat was sitting on the mat by the door"


@pytest.mark.parametrize("kind", ["rouge1", "rouge2", "rougeL"])
def test_rouge_is_rouge_scores_f_measure(kind: str) -> None:
    expected = rouge_scorer.RougeScorer([kind]).score(REFERENCE, RESPONSE)[kind].fmeasure

    assert score_function(RewardFunction(kind), {}, RESPONSE, REFERENCE) == pytest.approx(expected, abs=1e-12)
    assert 0 < expected < 1


def test_bleu_is_sacrebleus_sentence_bleu_over_100() -> None:
    expected = sacrebleu.sentence_bleu(RESPONSE, [REFERENCE]).score / 100

    assert score_function(RewardFunction.BLEU, {}, RESPONSE, REFERENCE) == pytest.approx(expected)
    assert score_function(RewardFunction.BLEU, {}, REFERENCE, REFERENCE) == pytest.approx(1.0)


def test_reference_functions_refuse_an_input_without_reference() -> None:
    with pytest.raises(MissingReferenceError):
        score_function(RewardFunction.ROUGE1, {}, RESPONSE, None)


def test_length_penalty_is_zero_at_the_target_and_falls_linearly() -> None:
    def length(text: str, **options: object) -> float:
        return score_function(RewardFunction.LENGTH, options, text, None)

    assert length("one two three four", target=4) == 0.0
    assert length("one two", target=4) == -0.5
    assert length("one two three four five six", target=4) == -0.5
    assert length("abcdef", target=3, unit="chars") == -1.0


def test_regex_searches_or_matches_the_whole_response() -> None:
    def regex(text: str, **options: object) -> float:
        return score_function(RewardFunction.REGEX, options, text, None)

    assert regex("The answer is 42.", pattern=r"\d+") == 1.0
    assert regex("The answer is 42.", pattern=r"\d+", full=True) == 0.0
    assert regex("42", pattern=r"\d+", full=True) == 1.0
    assert regex("no digits", pattern=r"\d+") == 0.0


def spec(components: list[dict[str, object]], gate: dict[str, object] | None = None) -> RewardSpec:
    return RewardSpec.from_stored("r", 1, components, gate)


def test_combine_is_the_weighted_sum_of_whitened_scores() -> None:
    reward = spec(
        [
            {"model_version_id": 1, "weight": 0.5},
            {"function": "rouge1", "weight": 2.0, "whiten": {"mean": 0.25, "std": 0.5}},
        ]
    )
    raw = [[1.0, -3.0], [0.75, 0.25]]

    combined = reward.combine(raw, [False, False])

    assert combined == pytest.approx([0.5 * 1.0 + 2.0 * 1.0, 0.5 * -3.0 + 0.0])
    # Frozen statistics: an input scores the same alone as beside others.
    assert reward.combine([[-3.0], [0.25]], [False]) == pytest.approx([combined[1]])


def test_safety_gate_takes_the_safety_score_below_threshold_or_when_marked() -> None:
    reward = spec(
        [
            {"model_version_id": 1, "weight": 1.0},  # safety
            {"model_version_id": 2, "weight": 1.0},  # helpfulness
            {"function": "length", "target": 3, "weight": 0.1},
        ],
        {"safety": 0, "helpfulness": 1, "threshold": 0.0},
    )
    raw = [[-1.0, 2.0, 2.0], [5.0, 5.0, 5.0], [0.0, -1.0, 0.0]]

    combined = reward.combine(raw, [False, False, True])

    assert combined == pytest.approx([-1.0, 5.0 - 0.1, 2.0])
    assert all(math.isfinite(value) for value in combined)
