"""Votes: recording an annotator's judgement of a comparison and releasing their lease (`next` is
services/domain/annotation.py, whose invariant this keeps: a vote fills a slot only while one is free).

A vote on a gold item stands outside k (it never completes the item) and updates the annotator's gold
accuracy, which may pause them on the dataset (services/domain/gold.py). A paused annotator's votes are refused;
those they cast before stay. The time from lease to vote is kept (`leased_at`, `created_at`): the server's
measure of a judgement's time, which a script cannot fake as it can `time_spent_ms`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import psycopg

from services.core.db import fetch_all
from services.core.enums import Choice, Side
from services.core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from services.core.inputs import MAX_ID
from services.domain import gold
from services.domain.annotation import LIVE_LEASES_OF_OTHERS
from services.domain.annotators import Identity
from services.domain.limits import check_text

MAX_IDEMPOTENCY_KEY = 200


@dataclass(frozen=True)
class Vote:
    choice: Choice
    strength: int | None = None  # 1-3, how much better the chosen response is (a or b only)
    rationale: str | None = None
    time_spent_ms: int | None = None
    shown_left: Side | None = None  # which response the annotator saw on the left
    both_bad: bool = False  # "both bad": a tie flagged apart


@dataclass(frozen=True)
class StoredPreference:
    id: int
    comparison_id: int
    annotator_id: int
    choice: str
    strength: int | None
    rationale: str | None
    time_spent_ms: int | None
    shown_left: str | None
    both_bad: bool
    idempotency_key: str | None
    leased_at: datetime | None
    created_at: datetime


_PREFERENCE_COLUMNS = (
    "id, comparison_id, annotator_id, choice, strength, rationale, time_spent_ms, shown_left, both_bad, "
    "idempotency_key, leased_at, created_at"
)

# Lock the comparison (and read its dataset, which the annotator must be assigned, and whether it is gold);
# also look up a preference stored earlier under the same idempotency key, and why the annotator is paused on
# the dataset, if they are.
_LOCK = """
    SELECT d.annotations_per_comparison AS k, c.dataset_id, c.gold IS NOT NULL AS is_gold,
           (SELECT p.id FROM preference p
            WHERE p.annotator_id = %(annotator_id)s AND p.idempotency_key = %(key)s) AS replay_id,
           (SELECT ap.reason FROM annotator_pause ap
            WHERE ap.annotator_id = %(annotator_id)s AND ap.dataset_id = c.dataset_id
              AND ap.paused_at IS NOT NULL) AS paused
    FROM comparison c JOIN dataset d ON d.id = c.dataset_id
    WHERE c.id = %(comparison_id)s
    FOR UPDATE OF c
"""

# Under the lock, in a fresh snapshot, one statement: release this annotator's lease, decide, store the vote
# and count it. The vote is stored only if this annotator has not judged the comparison and either holds a
# live lease (their slot was reserved) or a slot is free without one; a gold item has no slots to fill.
_VOTE = f"""
    WITH mine AS (
        DELETE FROM lease WHERE comparison_id = %(comparison_id)s AND annotator_id = %(annotator_id)s
        RETURNING created_at, expires_at > statement_timestamp() AS live
    ), state AS (
        SELECT (SELECT created_at FROM mine) AS leased_at,
               coalesce((SELECT live FROM mine), false) AS live,
               {LIVE_LEASES_OF_OTHERS} AS others,
               EXISTS (SELECT 1 FROM preference
                       WHERE comparison_id = c.id AND annotator_id = %(annotator_id)s) AS voted,
               c.vote_count
        FROM comparison c WHERE c.id = %(comparison_id)s
    ), stored AS (
        INSERT INTO preference (comparison_id, annotator_id, choice, strength, rationale, time_spent_ms,
                                shown_left, both_bad, idempotency_key, leased_at)
        SELECT %(comparison_id)s, %(annotator_id)s, %(choice)s, %(strength)s, %(rationale)s,
               %(time_spent_ms)s, %(shown_left)s, %(both_bad)s, %(key)s, state.leased_at
        FROM state
        WHERE NOT state.voted AND (state.live OR %(is_gold)s OR state.vote_count + state.others < %(k)s)
        ON CONFLICT DO NOTHING
        RETURNING {_PREFERENCE_COLUMNS}
    ), counted AS (
        UPDATE comparison
        SET vote_count = vote_count + 1, is_complete = NOT %(is_gold)s AND vote_count + 1 >= %(k)s
        WHERE id = %(comparison_id)s AND %(fills_slot)s AND EXISTS (SELECT 1 FROM stored)
    )
    SELECT state.voted, state.live, state.others, state.vote_count, to_jsonb(stored) AS stored
    FROM state LEFT JOIN stored ON true
"""

_BY_KEY = f"""
    SELECT {_PREFERENCE_COLUMNS} FROM preference
    WHERE annotator_id = %(annotator_id)s AND idempotency_key = %(key)s
"""


def check_vote(vote: Vote) -> None:
    if vote.choice not in list(Choice):
        raise InvalidInputError(f"choice must be one of {', '.join(Choice)}")
    if vote.strength is not None:
        if vote.choice not in list(Side):
            raise InvalidInputError("strength applies only to choice a or b")
        if not 1 <= vote.strength <= 3:
            raise InvalidInputError("strength must be 1, 2 or 3")
    if vote.both_bad and vote.choice != Choice.TIE:
        raise InvalidInputError("both_bad is a kind of tie: it needs choice 'tie'")
    if vote.shown_left is not None and vote.shown_left not in list(Side):
        raise InvalidInputError("shown_left must be 'a' or 'b'")
    if vote.time_spent_ms is not None and not 0 <= vote.time_spent_ms <= MAX_ID:
        raise InvalidInputError("time_spent_ms must be a non-negative integer")
    if vote.rationale is not None:
        check_text("rationale", vote.rationale)


async def record_preference(
    connection: psycopg.AsyncConnection[Any],
    annotator: Identity,
    comparison_id: int,
    vote: Vote,
    *,
    idempotency_key: str | None = None,
) -> StoredPreference:
    """Store one annotator's vote on a comparison and release their lease, in one transaction.

    A retry with the same `idempotency_key` returns the preference stored the first time and stores nothing.
    """
    check_vote(vote)
    if idempotency_key is not None:
        if not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
            raise InvalidInputError(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
        check_text("Idempotency-Key", idempotency_key)
    params: dict[str, Any] = {
        "annotator_id": annotator.id,
        "comparison_id": comparison_id,
        "key": idempotency_key,
    }
    locked = await fetch_all(connection, _LOCK, params)
    if not locked:
        await connection.rollback()
        raise NotFoundError(f"comparison {comparison_id} not found")
    if locked[0]["replay_id"] is not None:
        return await _replay(connection, annotator.id, comparison_id, idempotency_key, vote)
    if not annotator.may_work_on(locked[0]["dataset_id"]):
        await connection.rollback()
        raise ForbiddenError(f"comparison {comparison_id} belongs to a dataset not assigned to you")
    if locked[0]["paused"] is not None:
        await connection.rollback()
        raise ForbiddenError(locked[0]["paused"])
    k, is_gold = locked[0]["k"], locked[0]["is_gold"]
    params |= {
        "choice": vote.choice,
        "strength": vote.strength,
        "rationale": vote.rationale,
        "time_spent_ms": vote.time_spent_ms,
        "shown_left": vote.shown_left,
        "both_bad": vote.both_bad,
        "k": k,
        "fills_slot": vote.choice != Choice.SKIP,
        "is_gold": is_gold,
    }
    outcome = (await fetch_all(connection, _VOTE, params))[0]
    if outcome["stored"] is not None:
        if is_gold and vote.choice != Choice.SKIP:
            await gold.check_accuracy(connection, annotator.id, locked[0]["dataset_id"])
        await connection.commit()
        return _stored(outcome["stored"])
    await connection.rollback()
    if outcome["voted"]:
        # A concurrent retry with this key may have committed while this request waited for the lock.
        if idempotency_key is not None and await fetch_all(connection, _BY_KEY, params):
            return await _replay(connection, annotator.id, comparison_id, idempotency_key, vote)
        await connection.rollback()
        raise ConflictError(f"annotator {annotator.id} has already judged comparison {comparison_id}")
    if not outcome["live"] and outcome["vote_count"] + outcome["others"] >= k:
        raise ConflictError(
            f"comparison {comparison_id} has no free slot: your lease is missing or expired and "
            f"{outcome['vote_count']} votes plus {outcome['others']} leases of others fill its {k}"
        )
    # Only the idempotency key can have clashed: another request with it committed meanwhile.
    return await _replay(connection, annotator.id, comparison_id, idempotency_key, vote)


def _stored(row: dict[str, Any]) -> StoredPreference:
    """A preference from its JSON form (to_jsonb), timestamps parsed back."""
    for key in ("leased_at", "created_at"):
        if row[key] is not None:
            row[key] = datetime.fromisoformat(row[key])
    return StoredPreference(**row)


async def _replay(
    connection: psycopg.AsyncConnection[Any],
    annotator_id: int,
    comparison_id: int,
    key: str | None,
    vote: Vote,
) -> StoredPreference:
    """The preference first stored under this key, if this request is the same one again; as payment APIs do,
    a key reused for another comparison or another vote is refused (422) rather than answered with the first."""
    rows = await fetch_all(connection, _BY_KEY, {"annotator_id": annotator_id, "key": key})
    await connection.rollback()
    stored = StoredPreference(**rows[0])
    if stored.comparison_id != comparison_id:
        raise InvalidInputError(
            f"Idempotency-Key {key!r} was already used for comparison {stored.comparison_id}"
        )
    differing = [name for name in _VOTE_FIELDS if getattr(stored, name) != getattr(vote, name)]
    if differing:
        raise InvalidInputError(
            f"Idempotency-Key {key!r} was already used for a different vote on this comparison "
            f"({', '.join(differing)} differ); send a new key for a new vote"
        )
    return stored


# What a vote's body sets, as stored: a replay must repeat all of them.
_VOTE_FIELDS = tuple(field.name for field in fields(Vote))
