"""The annotation queue: leasing comparisons to annotators (`next`) and recording their votes.

Invariant: a comparison is handed out only while its slot-filling votes plus the live leases of other
annotators stay below the dataset's `annotations_per_comparison` (k), and never to an annotator who has
judged it already. Every writer of a comparison's leases or votes first locks the comparison row, then
reads the counts in a new statement: under READ COMMITTED a statement's snapshot can predate a lease that
another transaction committed while this one waited, so counts read before the lock are only a hint.
An annotator works only on the datasets assigned to them (their Identity carries them, from the token lookup),
and holds one comparison at most RLHF_LEASE_MAX_SECONDS however often `next` renews the lease.

Hand-written SQL sent straight through the driver (psycopg's async connection, on the collector's event
loop), in the request's transaction: `next` and a vote run hundreds of times a second, so each is two
statements plus the commit.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

import psycopg

from services.core.db import fetch_all
from services.core.enums import Choice, Side
from services.core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from services.core.settings import get_settings
from services.domain.annotators import Identity
from services.domain.limits import check_text

MAX_IDEMPOTENCY_KEY = 200
# How many open comparisons at the front of the queue one statement looks at; the next window is read only
# when all of them are taken, locked or already judged by this annotator.
WINDOW = 64


@dataclass(frozen=True)
class Assignment:
    comparison_id: int
    prompt: str
    response_a: str
    response_b: str
    lease_expires_at: datetime


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


_LIVE_LEASES_OF_OTHERS = """(SELECT count(*) FROM lease l
      WHERE l.comparison_id = c.id AND l.annotator_id <> %(annotator_id)s
        AND l.expires_at > statement_timestamp())"""

# The first comparison of a window of the open ones (in id order, from the partial index) that has a free
# slot and that this annotator has not judged; rows other transactions hold are skipped. Reading a bounded
# window first keeps the plan an ordered index walk even before the table has statistics, and the cost
# flat however much work is complete. OFFSET 0 keeps NOT EXISTS a per-row probe rather than an anti-join
# over all of the annotator's votes.
_PICK_TEMPLATE = f"""
    SELECT c.id FROM (
        SELECT id FROM comparison
        WHERE dataset_id = %(dataset_id)s AND NOT is_complete AND id > %(after)s
        ORDER BY id LIMIT {WINDOW}
    ) front JOIN comparison c ON c.id = front.id
    WHERE {{gate}} NOT c.is_complete
      AND c.vote_count + {_LIVE_LEASES_OF_OTHERS} < {{k}}
      AND NOT EXISTS (SELECT 1 FROM preference p
                      WHERE p.comparison_id = c.id AND p.annotator_id = %(annotator_id)s OFFSET 0)
    ORDER BY c.id LIMIT 1
    FOR UPDATE OF c SKIP LOCKED
"""
_PICK = _PICK_TEMPLATE.format(gate="", k="%(k)s")

# First statement of `next`: k, the comparison this annotator already holds a live lease on (reload keeps
# progress), else a candidate from the first window. Leases are soft state: this transaction commits
# without waiting for the WAL flush (a crash can only return leased work to the pool early); votes do wait.
_START = f"""
    SELECT set_config('synchronous_commit', 'off', true) AS async_commit,
           d.annotations_per_comparison AS k, held.comparison_id AS held, pick.id AS candidate
    FROM dataset d
    LEFT JOIN LATERAL (
        SELECT l.comparison_id FROM lease l
        WHERE l.annotator_id = %(annotator_id)s AND l.expires_at > statement_timestamp()
          -- A per-lease probe (OFFSET 0 keeps it one): the planner must not walk the open comparisons.
          AND EXISTS (SELECT 1 FROM comparison c
                      WHERE c.id = l.comparison_id AND c.dataset_id = d.id AND NOT c.is_complete OFFSET 0)
        ORDER BY l.comparison_id LIMIT 1
    ) held ON true
    LEFT JOIN LATERAL (
        {_PICK_TEMPLATE.format(gate="held.comparison_id IS NULL AND", k="d.annotations_per_comparison")}
    ) pick ON true
    WHERE d.id = %(dataset_id)s
"""

_WINDOW_END = f"""
    SELECT max(id) AS window_end FROM (
        SELECT id FROM comparison
        WHERE dataset_id = %(dataset_id)s AND NOT is_complete AND id > %(after)s
        ORDER BY id LIMIT {WINDOW}
    ) front
"""

_ASSIGNMENT = """
    SELECT x.comparison_id, p.text AS prompt, c.response_a, c.response_b, x.expires_at AS lease_expires_at
    FROM {source} x JOIN comparison c ON c.id = x.comparison_id JOIN prompt p ON p.id = c.prompt_id
"""

# A lease of this annotator that ran to the cap (its hold began lease_max_seconds before it ended) and ended
# less than lease_seconds ago: while it cools down, the comparison is not leased to them again, so that others
# get it first. It stays stored (unlike other expired leases) until then.
_COOLING = """expires_at <= statement_timestamp()
          AND expires_at >= created_at + make_interval(secs => %(lease_max_seconds)s)
          AND expires_at > statement_timestamp() - make_interval(secs => %(lease_seconds)s)"""

# Under the candidate's lock, in a fresh snapshot: re-check its counts, grant the lease (a new hold: it starts
# now), drop this annotator's expired leases (they count for nothing, so they need no lock), and answer the
# comparison.
_GRANT = f"""
    WITH expired AS (
        DELETE FROM lease
        WHERE annotator_id = %(annotator_id)s AND comparison_id <> %(comparison_id)s
          AND expires_at <= statement_timestamp() AND NOT ({_COOLING})
    ), granted AS (
        INSERT INTO lease (comparison_id, annotator_id, expires_at)
        SELECT c.id, %(annotator_id)s, statement_timestamp() + make_interval(secs => %(grant_seconds)s)
        FROM comparison c
        WHERE c.id = %(comparison_id)s AND c.vote_count + {_LIVE_LEASES_OF_OTHERS} < %(k)s
          AND NOT EXISTS (SELECT 1 FROM preference
                          WHERE comparison_id = %(comparison_id)s AND annotator_id = %(annotator_id)s)
          AND NOT EXISTS (SELECT 1 FROM lease
                          WHERE comparison_id = %(comparison_id)s AND annotator_id = %(annotator_id)s
                            AND {_COOLING})
        ON CONFLICT (comparison_id, annotator_id)
            DO UPDATE SET expires_at = EXCLUDED.expires_at, created_at = statement_timestamp()
        RETURNING comparison_id, expires_at
    )
    {_ASSIGNMENT.format(source="granted")}
"""

# Reload: extend the live lease this annotator holds, under the comparison's lock, but never past the cap on
# one hold (created_at + lease_max_seconds): each `next` renewing it must not keep it from others forever.
_REFRESH = f"""
    WITH locked AS (
        SELECT id FROM comparison WHERE id = %(comparison_id)s FOR UPDATE
    ), refreshed AS (
        UPDATE lease SET expires_at = least(
            statement_timestamp() + make_interval(secs => %(lease_seconds)s),
            lease.created_at + make_interval(secs => %(lease_max_seconds)s))
        FROM locked
        WHERE lease.comparison_id = locked.id AND lease.annotator_id = %(annotator_id)s
          AND lease.expires_at > statement_timestamp()
        RETURNING lease.comparison_id, lease.expires_at
    )
    {_ASSIGNMENT.format(source="refreshed")}
"""


async def next_comparison(
    connection: psycopg.AsyncConnection[Any], annotator: Identity, dataset_id: int
) -> Assignment | None:
    """Lease the annotator a comparison of the dataset (the one they hold, if any); None when none is free."""
    annotator.check_dataset(dataset_id)
    settings = get_settings()
    params: dict[str, Any] = {
        "annotator_id": annotator.id,
        "dataset_id": dataset_id,
        "after": 0,
        "lease_seconds": settings.lease_seconds,
        "lease_max_seconds": settings.resolved_lease_max_seconds,
        "grant_seconds": min(settings.lease_seconds, settings.resolved_lease_max_seconds),
    }
    rows = await fetch_all(connection, _START, params)
    if not rows:
        await connection.rollback()
        raise NotFoundError(f"dataset {dataset_id} not found")
    start = rows[0]
    params["k"] = start["k"]
    candidate = start["candidate"]
    if start["held"] is not None:
        refreshed = await fetch_all(connection, _REFRESH, params | {"comparison_id": start["held"]})
        if refreshed:
            await connection.commit()
            return Assignment(**refreshed[0])
        # The held lease lapsed (or was voted on) meanwhile; the first statement did not search: do it now.
        picked = await fetch_all(connection, _PICK, params)
        candidate = picked[0]["id"] if picked else None
    while True:
        if candidate is not None:
            granted = await fetch_all(connection, _GRANT, params | {"comparison_id": candidate})
            if granted:
                await connection.commit()
                return Assignment(**granted[0])
            # Its slots filled between the search's snapshot and the lock: look past it.
            params["after"] = candidate
        else:
            # Nothing free in this window: move to the next one, if any.
            params["after"] = (await fetch_all(connection, _WINDOW_END, params))[0]["window_end"]
            if params["after"] is None:
                await connection.commit()
                return None
        picked = await fetch_all(connection, _PICK, params)
        candidate = picked[0]["id"] if picked else None


_PREFERENCE_COLUMNS = (
    "id, comparison_id, annotator_id, choice, strength, rationale, time_spent_ms, shown_left, both_bad, "
    "idempotency_key, leased_at, created_at"
)

# Lock the comparison (and read its dataset, which the annotator must be assigned); also look up a preference
# stored earlier under the same idempotency key.
_LOCK = """
    SELECT d.annotations_per_comparison AS k, c.dataset_id,
           (SELECT p.id FROM preference p
            WHERE p.annotator_id = %(annotator_id)s AND p.idempotency_key = %(key)s) AS replay_id
    FROM comparison c JOIN dataset d ON d.id = c.dataset_id
    WHERE c.id = %(comparison_id)s
    FOR UPDATE OF c
"""

# Under the lock, in a fresh snapshot, one statement: release this annotator's lease, decide, store the vote
# and count it. The vote is stored only if this annotator has not judged the comparison and either holds a
# live lease (their slot was reserved) or a slot is free without one.
_VOTE = f"""
    WITH mine AS (
        DELETE FROM lease WHERE comparison_id = %(comparison_id)s AND annotator_id = %(annotator_id)s
        RETURNING created_at, expires_at > statement_timestamp() AS live
    ), state AS (
        SELECT (SELECT created_at FROM mine) AS leased_at,
               coalesce((SELECT live FROM mine), false) AS live,
               {_LIVE_LEASES_OF_OTHERS} AS others,
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
        WHERE NOT state.voted AND (state.live OR state.vote_count + state.others < %(k)s)
        ON CONFLICT DO NOTHING
        RETURNING {_PREFERENCE_COLUMNS}
    ), counted AS (
        UPDATE comparison SET vote_count = vote_count + 1, is_complete = vote_count + 1 >= %(k)s
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
    if vote.time_spent_ms is not None and not 0 <= vote.time_spent_ms < 2**63:
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
    k = locked[0]["k"]
    params |= {
        "choice": vote.choice,
        "strength": vote.strength,
        "rationale": vote.rationale,
        "time_spent_ms": vote.time_spent_ms,
        "shown_left": vote.shown_left,
        "both_bad": vote.both_bad,
        "k": k,
        "fills_slot": vote.choice != Choice.SKIP,
    }
    outcome = (await fetch_all(connection, _VOTE, params))[0]
    if outcome["stored"] is not None:
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
