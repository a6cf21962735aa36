"""AI feedback's pure parts: Cohen's κ against a worked example, and the judge prompt from the params."""

from __future__ import annotations

import pytest

from services.domain import job_params
from services.domain.ai_agreement import cohen_kappa
from services.domain.job_params import AiFeedbackParams
from services.domain.job_params.ai_feedback import DEFAULT_PRINCIPLES
from services.domain.job_params.fields import VoteTrainingParams

JUDGE = {"base_url": "http://127.0.0.1:8001/v1", "model": "policy"}


def test_cohen_kappa_matches_the_worked_example() -> None:
    # Wikipedia's "Cohen's kappa" example: 50 proposals, both yes 20, both no 15, 5 + 10 disagreements:
    # p_o = 0.7, p_e = 0.5 · 0.6 + 0.5 · 0.4 = 0.5, κ = 0.4.
    pairs = [(("yes", "yes"), 20), (("yes", "no"), 5), (("no", "yes"), 10), (("no", "no"), 15)]
    assert cohen_kappa(pairs) == pytest.approx(0.4)


def test_cohen_kappa_is_one_for_perfect_and_zero_for_chance_agreement() -> None:
    assert cohen_kappa([(("a", "a"), 7), (("b", "b"), 3)]) == pytest.approx(1.0)
    # Rater 1 always says a: whatever rater 2 says, agreement is what chance gives.
    assert cohen_kappa([(("a", "a"), 6), (("a", "b"), 4)]) == pytest.approx(0.0)


def test_cohen_kappa_is_undefined_without_variety_or_items() -> None:
    assert cohen_kappa([(("a", "a"), 5)]) is None
    assert cohen_kappa([]) is None


def test_ai_feedback_params_resolve_with_their_defaults() -> None:
    params = job_params.resolve("ai_feedback", {"judge": JUDGE}).own
    assert isinstance(params, AiFeedbackParams)
    assert params.annotator_name == "ai:policy"
    assert list(params.principles) == list(DEFAULT_PRINCIPLES)
    assert params.inconsistent == "tie"
    named = job_params.resolve("ai_feedback", {"judge": JUDGE, "annotator": "ai:strict"}).own
    assert isinstance(named, AiFeedbackParams)
    assert named.annotator_name == "ai:strict"


def test_judge_prompt_fills_every_placeholder_and_numbers_the_principles() -> None:
    params = job_params.resolve("ai_feedback", {"judge": JUDGE, "principles": ["Kinder?", "Truer?"]}).own
    assert isinstance(params, AiFeedbackParams)
    # Braces inside the data are text, not placeholders.
    text = params.judge_prompt("Say {hi}", "Hello {name}", "Go away")
    assert "Say {hi}" in text and "Response A:\nHello {name}" in text and "Response B:\nGo away" in text
    assert "1. Kinder?\n2. Truer?" in text
    assert text.endswith("Answer with a single letter: A or B.")


def test_worker_judges_are_named_after_their_model() -> None:
    by_version = job_params.resolve("ai_feedback", {"judge": {"model_version_id": 7}}).own
    by_base = job_params.resolve("ai_feedback", {"judge": {"base_model": "builtin:tiny-gpt2"}}).own
    assert isinstance(by_version, AiFeedbackParams) and isinstance(by_base, AiFeedbackParams)
    assert by_version.annotator_name == "ai:model-version-7"
    assert by_base.annotator_name == "ai:builtin:tiny-gpt2"


def test_training_kinds_read_human_preferences_by_default() -> None:
    for kind in ("reward_model", "dpo", "sft"):
        default = job_params.resolve(kind, {}).own
        chosen = job_params.resolve(kind, {"source": "all"}).own
        assert isinstance(default, VoteTrainingParams) and isinstance(chosen, VoteTrainingParams)
        assert (default.source, chosen.source) == ("human", "all")
