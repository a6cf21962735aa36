"""How far each annotator's work on a dataset can be trusted: gold accuracy, agreement with the majority of
the others, time per judgement measured by the server (lease to vote), position bias, and the trust score
that combines them (docs/quality.md gives the formula and why).

Only people count here: the built-in `import` annotator's votes are the dataset's own data, never filtered, and
AI judges' preferences (source `ai`) are neither measured nor part of the majority people are measured against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.core.enums import AnnotatorRole
from services.core.settings import get_settings
from services.domain import datasets
from services.domain.intervals import Z95, wilson
from services.domain.vote_tally import PLURALITY, comparison_tallies


@dataclass(frozen=True)
class AnnotatorQuality:
    annotator_id: int
    name: str
    votes: int  # a, b or tie, gold answers included
    skips: int
    gold_answered: int
    gold_correct: int
    gold_accuracy: float | None
    gold_ci95_low: float | None  # Wilson score interval
    gold_ci95_high: float | None
    majority_shared: int  # their votes on ordinary comparisons where the other votes have a strict majority
    majority_agreed: int
    majority_agreement: float | None
    median_ms: float | None  # server-side: from the lease's start to the vote
    p10_ms: float | None
    sided_votes: int  # a or b votes whose left side is known
    left_share: float | None  # of those, the share that chose the response shown on the left
    trust: float
    paused: bool
    pause_reason: str | None
    paused_at: datetime | None
    fast: bool  # median time far below the dataset's: flagged for the admin, never paused for it


def trust_score(
    *, gold_answered: int, gold_correct: int, shared: int, agreed: int, sided: int, left: int
) -> float:
    """(2 G + A) / 3 × (1 − B): G and A the Laplace-smoothed gold accuracy and majority agreement, B the
    position bias beyond what chance explains (docs/quality.md)."""
    g = (gold_correct + 1) / (gold_answered + 2)
    a = (agreed + 1) / (shared + 2)
    bias = 0.0
    if sided:
        bias = max(0.0, abs(2 * left / sided - 1) - Z95 / math.sqrt(sided))
    return (2 * g + a) / 3 * (1 - bias)


_PER_ANNOTATOR = text(
    """
    SELECT a.id AS annotator_id, a.name,
           count(*) FILTER (WHERE v.choice <> 'skip') AS votes,
           count(*) FILTER (WHERE v.choice = 'skip') AS skips,
           count(*) FILTER (WHERE c.gold IS NOT NULL AND v.choice <> 'skip') AS gold_answered,
           count(*) FILTER (WHERE v.choice = c.gold) AS gold_correct,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY v.server_ms) FILTER (WHERE v.choice <> 'skip')
               AS median_ms,
           percentile_cont(0.1) WITHIN GROUP (ORDER BY v.server_ms) FILTER (WHERE v.choice <> 'skip') AS p10_ms,
           count(v.server_ms) FILTER (WHERE v.choice <> 'skip') AS timed,
           count(*) FILTER (WHERE v.choice IN ('a', 'b') AND v.shown_left IS NOT NULL) AS sided,
           count(*) FILTER (WHERE v.choice IN ('a', 'b') AND v.shown_left = v.choice) AS left_chosen,
           ap.paused_at, ap.reason AS pause_reason
    FROM (SELECT p.*, extract(epoch FROM p.created_at - p.leased_at) * 1000 AS server_ms FROM preference p)
         v
    JOIN comparison c ON c.id = v.comparison_id
    JOIN annotator a ON a.id = v.annotator_id
    LEFT JOIN annotator_pause ap ON ap.annotator_id = a.id AND ap.dataset_id = c.dataset_id
    WHERE c.dataset_id = :dataset_id AND a.role = :role
    GROUP BY a.id, a.name, ap.paused_at, ap.reason
    ORDER BY a.id
    """
)

# Each vote on an ordinary comparison against the other votes on it (skips aside): the others' majority is the
# answer more of them chose than either other answer.
_MAJORITY = text(
    f"""
    WITH tally AS ({comparison_tallies("v.source = 'human'")} HAVING count(*) >= 2
    ), others AS (
        SELECT v.annotator_id, v.choice,
               t.a - (v.choice = 'a')::int AS a, t.b - (v.choice = 'b')::int AS b,
               t.t - (v.choice = 'tie')::int AS t
        FROM preference v JOIN tally t ON t.comparison_id = v.comparison_id
        WHERE v.choice <> 'skip' AND v.source = 'human'
    ), judged AS (
        SELECT annotator_id, choice, {PLURALITY} AS majority FROM others
    )
    SELECT annotator_id, count(majority) AS shared, count(*) FILTER (WHERE choice = majority) AS agreed
    FROM judged GROUP BY annotator_id
    """
)


def annotator_quality(session: Session, dataset_id: int) -> list[AnnotatorQuality]:
    """Every person who voted on the dataset, with their quality figures and trust."""
    datasets.get(session, dataset_id)
    params = {"dataset_id": dataset_id, "role": AnnotatorRole.ANNOTATOR.value}
    rows = list(session.execute(_PER_ANNOTATOR, params).mappings())
    majority = {row.annotator_id: (row.shared, row.agreed) for row in session.execute(_MAJORITY, params)}
    settings = get_settings()
    medians = sorted(row["median_ms"] for row in rows if row["median_ms"] is not None)
    dataset_median = medians[len(medians) // 2] if medians else None
    result = []
    for row in rows:
        shared, agreed = majority.get(row["annotator_id"], (0, 0))
        answered, correct = row["gold_answered"], row["gold_correct"]
        low, high = wilson(correct, answered) or (None, None)
        fast = (
            dataset_median is not None
            and row["median_ms"] is not None
            and row["timed"] >= settings.gold_min_answers
            and row["median_ms"] < settings.fast_flag_ratio * dataset_median
        )
        result.append(
            AnnotatorQuality(
                annotator_id=row["annotator_id"],
                name=row["name"],
                votes=row["votes"],
                skips=row["skips"],
                gold_answered=answered,
                gold_correct=correct,
                gold_accuracy=correct / answered if answered else None,
                gold_ci95_low=low,
                gold_ci95_high=high,
                majority_shared=shared,
                majority_agreed=agreed,
                majority_agreement=agreed / shared if shared else None,
                median_ms=row["median_ms"],
                p10_ms=row["p10_ms"],
                sided_votes=row["sided"],
                left_share=row["left_chosen"] / row["sided"] if row["sided"] else None,
                trust=trust_score(
                    gold_answered=answered,
                    gold_correct=correct,
                    shared=shared,
                    agreed=agreed,
                    sided=row["sided"],
                    left=row["left_chosen"],
                ),
                paused=row["paused_at"] is not None,
                pause_reason=row["pause_reason"],
                paused_at=row["paused_at"],
                fast=fast,
            )
        )
    return result


def untrusted(session: Session, dataset_id: int, min_trust: float | None) -> list[int]:
    """The people whose trust on the dataset is below min_trust (None: nobody is filtered out)."""
    if min_trust is None:
        return []
    return [q.annotator_id for q in annotator_quality(session, dataset_id) if q.trust < min_trust]
