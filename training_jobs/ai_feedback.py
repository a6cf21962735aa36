"""ai_feedback: a judge model compares the two responses of each comparison of the dataset and records its
preference as an AI preference (services/domain/ai_preferences.py): RLAIF's feedback step (Bai et al. 2022,
"Constitutional AI": a feedback model picks the better of two responses by a list of principles).

Position bias (judges favour the response shown first, or second) is controlled by judging every pair in both
orders: the verdict stands when both orders pick the same response; when they disagree it becomes a tie, is
dropped, or goes to the response with the higher probability averaged over both orders (params.inconsistent). The judge's raw answers in both orders, the job id and the judge are kept
in the preference's metadata, a readable account in its rationale. Preferences are stored batch by batch,
so a failed or cancelled run keeps what it stored (each carries its job id) and reports how many in its
metrics; comparisons a judge has judged are skipped, so running the job again finishes the dataset. No model
version.

Params: AiFeedbackParams (services/domain/job_params/ai_feedback.py); the judges: training_jobs/judges.py.
"""

from __future__ import annotations

from typing import Any

from services.core.db import session_scope
from services.domain import ai_agreement, ai_preferences
from services.domain.ai_preferences import AiVerdict, PairToJudge
from services.domain.job_params import AiFeedbackParams
from services.modeling.chat import prompt_text
from training_jobs.context import JobContext, JobInputError, JobResult
from training_jobs.judges import Answer, open_judge

# Which response a letter names, in each order: "ab" shows response a as A, "ba" shows response b as A.
NAMED = {"ab": {"A": "a", "B": "b"}, "ba": {"A": "b", "B": "a"}}


def run(ctx: JobContext[AiFeedbackParams]) -> JobResult:
    if ctx.dataset_id is None:
        raise JobInputError("an ai_feedback job needs a dataset of comparisons")
    params = ctx.params
    name = params.annotator_name
    max_id = ctx.data_snapshot.get("max_comparison_id")
    with session_scope() as session:
        annotator_id = ai_preferences.ai_annotator(session, name)
        total = ai_preferences.count_to_judge(session, ctx.dataset_id, annotator_id, max_id=max_id)
    if params.num_comparisons is not None:
        total = min(total, params.num_comparisons)
    ctx.log(f"{name} judges {total} comparisons of dataset {ctx.dataset_id}, each in both orders")
    tally = {"judged": 0, "preferences_written": 0, "consistent": 0, "inconsistent": 0, "dropped": 0}
    # How often an answer named the response shown first (A), and how many named neither letter.
    first_shown = {"chosen": 0, "answers": 0, "unanswered": 0}
    judge = open_judge(ctx) if total else None
    after = 0
    try:
        while judge is not None and tally["judged"] < total:
            with session_scope() as session:
                batch = ai_preferences.to_judge(
                    session,
                    ctx.dataset_id,
                    annotator_id,
                    after=after,
                    limit=min(params.batch_size, total - tally["judged"]),
                    max_id=max_id,
                )
            if not batch:
                break
            prompts = [_judge_prompt(params, pair, "ab") for pair in batch]
            prompts += [_judge_prompt(params, pair, "ba") for pair in batch]
            answers = judge(prompts)
            verdicts = []
            for pair, forward, backward in zip(
                batch, answers[: len(batch)], answers[len(batch) :], strict=True
            ):
                for answer in (forward, backward):
                    first_shown["answers"] += answer.letter is not None
                    first_shown["chosen"] += answer.letter == "A"
                    first_shown["unanswered"] += answer.letter is None
                verdict = _verdict(ctx, params, judge.kind, pair, forward, backward, tally)
                if verdict is not None:
                    verdicts.append(verdict)
            with session_scope() as session:
                tally["preferences_written"] += ai_preferences.store(session, annotator_id, verdicts)
            tally["judged"] += len(batch)
            after = batch[-1].comparison_id
            ctx.progress(tally["judged"] / total, **tally)
            ctx.reporter.flush(force=True)  # a failed run's metrics say what it stored
            ctx.raise_if_cancelled()
    finally:
        if judge is not None:
            judge.close()
    ctx.log(
        f"{tally['preferences_written']} preferences written ({tally['inconsistent']} pairs inconsistent)"
    )
    metrics: dict[str, Any] = {
        **tally,
        "annotator": name,
        "judge": params.judge.name if params.judge else None,
    }
    metrics["answers_naming_neither"] = first_shown["unanswered"]
    metrics["first_position_rate"] = (
        first_shown["chosen"] / first_shown["answers"] if first_shown["answers"] else None
    )
    with session_scope() as session:
        mine = [
            a for a in ai_agreement.ai_agreement(session, ctx.dataset_id) if a.annotator_id == annotator_id
        ]
    if mine:  # people decided some of the comparisons this judge has judged (this run and earlier ones)
        metrics |= {
            "human_agreement": mine[0].agreement,
            "human_agreement_ci95": mine[0].agreement_ci95,
            "human_agreement_comparisons": mine[0].comparisons,
            "cohen_kappa": mine[0].cohen_kappa,
        }
    return JobResult(model_kind=None, metrics=metrics, base_model=name)


def _judge_prompt(params: AiFeedbackParams, pair: PairToJudge, order: str) -> str:
    first, second = (
        (pair.response_a, pair.response_b) if order == "ab" else (pair.response_b, pair.response_a)
    )
    return params.judge_prompt(prompt_text(pair.prompt), first, second)


def _verdict(
    ctx: JobContext[AiFeedbackParams],
    params: AiFeedbackParams,
    kind: str,
    pair: PairToJudge,
    forward: Answer,
    backward: Answer,
    tally: dict[str, int],
) -> AiVerdict | None:
    """One pair's preference from its two answers: the response both orders chose, else a tie or nothing."""
    picks = [
        NAMED[order][answer.letter] if answer.letter is not None else None
        for order, answer in (("ab", forward), ("ba", backward))
    ]
    consistent = picks[0] is not None and picks[0] == picks[1]
    tally["consistent" if consistent else "inconsistent"] += 1
    if not consistent and params.inconsistent == "drop":
        tally["dropped"] += 1
        return None
    averaged = _averaged(forward, backward) if params.inconsistent == "average" else None
    if consistent:
        choice = str(picks[0])
        outcome = f"prefers response {choice} in both orders"
    elif averaged is not None:
        choice = "a" if averaged > 0.5 else "b" if averaged < 0.5 else "tie"
        outcome = f"the two orders disagree; P(a better) averaged over both is {averaged:.3f}: {choice}"
    else:
        choice, outcome = "tie", "the two orders disagree: a tie"
    shown = ", ".join(
        f"{order} ({NAMED[order]['A']} shown as A): {_describe(answer)}"
        for order, answer in (("ab", forward), ("ba", backward))
    )
    return AiVerdict(
        comparison_id=pair.comparison_id,
        choice=choice,
        rationale=f"{params.annotator_name} {outcome}. {shown}",
        metadata={
            "job_id": ctx.job_id,
            "judge": params.judge.name if params.judge else None,
            "judge_kind": kind,
            "consistent": consistent,
            "answers": {"ab": forward.as_json(), "ba": backward.as_json()},
        },
    )


def _averaged(forward: Answer, backward: Answer) -> float | None:
    """P(response a is better), each order's letter probabilities normalised over A and B, averaged over the
    two orders: position bias adds to one letter in both, so it cancels (balanced position calibration, Wang
    et al. 2023, "Large Language Models are not Fair Evaluators"). None when a probability is unknown."""
    shares = []
    for answer, a_letter in ((forward, "A"), (backward, "B")):
        if answer.p_a is None or answer.p_b is None or answer.p_a + answer.p_b <= 0:
            return None
        shares.append((answer.p_a if a_letter == "A" else answer.p_b) / (answer.p_a + answer.p_b))
    return sum(shares) / 2


def _describe(answer: Answer) -> str:
    said = f"answered {answer.text.strip()[:500]!r}"
    if answer.p_a is None or answer.p_b is None:
        return said
    return f"{said}, P(A) {answer.p_a:.3f} vs P(B) {answer.p_b:.3f}"
