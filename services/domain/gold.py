"""Gold items (comparisons with a known answer) and the pause they trigger.

After each gold answer (a vote on a gold item, skips aside) the annotator's accuracy on the dataset's gold
items is checked, in the vote's transaction: once at least RLHF_GOLD_MIN_ANSWERS are in and fewer than
RLHF_GOLD_MIN_ACCURACY of them are right, the annotator is paused on that dataset (`next` and votes answer 403
with the reason) and their leases there go back to the pool. Their votes stay, flagged in stats and exports.
The admin lifts a pause; gold answers then count afresh from the lift.
"""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.orm import Session

from services.core.db import fetch_all
from services.core.enums import JUDGEMENTS
from services.core.errors import ConflictError, InvalidInputError, NotFoundError
from services.core.orm import Annotator, Comparison, Dataset
from services.core.settings import get_settings

# Driven from the dataset's gold items (few), each a probe of the (comparison, annotator) unique index.
_TALLY = """
    SELECT count(*) AS answered, count(*) FILTER (WHERE p.choice = c.gold) AS correct
    FROM comparison c JOIN preference p ON p.comparison_id = c.id AND p.annotator_id = %(annotator_id)s
    WHERE c.dataset_id = %(dataset_id)s AND c.gold IS NOT NULL AND p.choice <> 'skip' AND p.source = 'human'
      AND p.created_at > coalesce((SELECT lifted_at FROM annotator_pause
                                   WHERE annotator_id = %(annotator_id)s AND dataset_id = %(dataset_id)s),
                                  '-infinity')
"""

_PAUSE = """
    WITH paused AS (
        INSERT INTO annotator_pause (annotator_id, dataset_id, paused_at, reason)
        VALUES (%(annotator_id)s, %(dataset_id)s, statement_timestamp(), %(reason)s)
        ON CONFLICT (annotator_id, dataset_id) DO UPDATE
            SET paused_at = EXCLUDED.paused_at, reason = EXCLUDED.reason
            WHERE annotator_pause.paused_at IS NULL
    )
    DELETE FROM lease l USING comparison c
    WHERE l.comparison_id = c.id AND l.annotator_id = %(annotator_id)s AND c.dataset_id = %(dataset_id)s
"""


def check_gold(value: Any, *, where: str = "") -> str | None:
    """A gold answer as stored: a, b, tie or None (not gold)."""
    if value is None:
        return None
    if value not in list(JUDGEMENTS):
        raise InvalidInputError(f"{where}gold must be one of {', '.join(JUDGEMENTS)} (or null)")
    return str(value)


async def check_accuracy(
    connection: psycopg.AsyncConnection[Any], annotator_id: int, dataset_id: int
) -> None:
    """Pause the annotator on the dataset if their gold accuracy fell below the bar (in the caller's
    transaction, right after a gold answer was stored)."""
    settings = get_settings()
    params: dict[str, Any] = {"annotator_id": annotator_id, "dataset_id": dataset_id}
    tally = (await fetch_all(connection, _TALLY, params))[0]
    answered, correct = tally["answered"], tally["correct"]
    if answered < settings.gold_min_answers or correct >= settings.gold_min_accuracy * answered:
        return
    reason = (
        f"paused on dataset {dataset_id}: {correct} of your {answered} answers on check items were right, "
        f"below the {settings.gold_min_accuracy:.0%} this dataset needs; ask the admin to lift the pause"
    )
    await fetch_all(connection, _PAUSE, params | {"reason": reason})


def lift_pause(session: Session, dataset_id: int, annotator_id: int) -> None:
    """Let a paused annotator work on the dataset again; gold answers count from now on. 409 if not paused."""
    if session.get(Dataset, dataset_id) is None:
        raise NotFoundError(f"dataset {dataset_id} not found")
    if session.get(Annotator, annotator_id) is None:
        raise NotFoundError(f"annotator {annotator_id} not found")
    lifted = session.execute(
        text(
            "UPDATE annotator_pause SET paused_at = NULL, reason = NULL, lifted_at = statement_timestamp() "
            "WHERE annotator_id = :annotator_id AND dataset_id = :dataset_id AND paused_at IS NOT NULL "
            "RETURNING annotator_id"
        ),
        {"annotator_id": annotator_id, "dataset_id": dataset_id},
    ).first()
    if lifted is None:
        session.rollback()
        raise ConflictError(f"annotator {annotator_id} is not paused on dataset {dataset_id}")
    session.commit()


def set_gold(session: Session, comparison_id: int, gold: str | None) -> Comparison:
    """Mark a comparison as gold with its answer, or (None) make it an ordinary one again, which then is
    complete once its votes (gold answers included) reach k."""
    gold = check_gold(gold)
    comparison = session.get(Comparison, comparison_id, with_for_update=True)
    if comparison is None:
        raise NotFoundError(f"comparison {comparison_id} not found")
    k = session.get_one(Dataset, comparison.dataset_id).annotations_per_comparison
    comparison.gold = gold
    comparison.is_complete = gold is None and comparison.vote_count >= k
    session.commit()
    return comparison
