"""The annotation queue: leasing comparisons to annotators (`next`) and recording their votes.

Invariant: a comparison is handed out only while its slot-filling votes plus the live leases of other
annotators stay below the dataset's `annotations_per_comparison` (k), and never to an annotator who has
judged it already. Every writer of a comparison's leases or votes first locks the comparison row, then
reads the counts in a new statement: under READ COMMITTED a statement's snapshot can predate a lease that
another transaction committed while this one waited, so counts read before the lock are only a hint.

Hand-written SQL, because `next` and a vote run hundreds of times a second: each is a few statements.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.core.errors import ConflictError, InvalidInputError, NotFoundError
from services.core.models import Annotator
from services.core.settings import get_settings
from services.domain.limits import check_text

MAX_IDEMPOTENCY_KEY = 200


@dataclass(frozen=True)
class Assignment:
    comparison_id: int
    prompt: str
    response_a: str
    response_b: str
    lease_expires_at: datetime


@dataclass(frozen=True)
class Vote:
    choice: str  # a, b, tie, skip
    strength: int | None = None  # 1-3, how much better the chosen response is (a or b only)
    rationale: str | None = None
    time_spent_ms: int | None = None
    shown_left: str | None = None  # which response the annotator saw on the left
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


# k of the dataset, and the comparison this annotator holds a live lease on there, if any.
_DATASET_AND_HELD = text(
    """
    SELECT d.annotations_per_comparison AS k,
           (SELECT l.comparison_id FROM lease l JOIN comparison c ON c.id = l.comparison_id
            WHERE l.annotator_id = :annotator_id AND c.dataset_id = d.id AND NOT c.is_complete
              AND l.expires_at > statement_timestamp()
            ORDER BY l.comparison_id LIMIT 1) AS held
    FROM dataset d WHERE d.id = :dataset_id
    """
)

# Reload keeps progress: the held lease is extended, under the comparison's lock.
_REFRESH = text(
    """
    WITH locked AS (SELECT id FROM comparison WHERE id = :comparison_id FOR UPDATE)
    UPDATE lease SET expires_at = statement_timestamp() + make_interval(secs => :lease_seconds)
    FROM locked
    WHERE lease.comparison_id = locked.id AND lease.annotator_id = :annotator_id
      AND lease.expires_at > statement_timestamp()
    RETURNING lease.comparison_id
    """
)

# The first open comparison with a free slot that this annotator has not judged; the partial index on open
# comparisons keeps this cheap however much work is complete. Rows other transactions hold are skipped.
_CANDIDATE = text(
    """
    SELECT c.id FROM comparison c
    WHERE c.dataset_id = :dataset_id AND NOT c.is_complete AND c.id <> ALL(CAST(:tried AS bigint[]))
      AND c.vote_count + (SELECT count(*) FROM lease l
                          WHERE l.comparison_id = c.id AND l.annotator_id <> :annotator_id
                            AND l.expires_at > statement_timestamp()) < :k
      AND NOT EXISTS (SELECT 1 FROM preference p WHERE p.comparison_id = c.id AND p.annotator_id = :annotator_id)
    ORDER BY c.id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
    """
)

# Under the comparison's lock, in a fresh snapshot: re-check the counts, grant the lease, drop this
# annotator's expired leases (they count for nothing, so no lock is needed for them).
_GRANT = text(
    """
    WITH expired AS (
        DELETE FROM lease
        WHERE annotator_id = :annotator_id AND comparison_id <> :comparison_id
          AND expires_at <= statement_timestamp()
    )
    INSERT INTO lease (comparison_id, annotator_id, expires_at)
    SELECT :comparison_id, :annotator_id, statement_timestamp() + make_interval(secs => :lease_seconds)
    WHERE (SELECT vote_count FROM comparison WHERE id = :comparison_id)
          + (SELECT count(*) FROM lease
             WHERE comparison_id = :comparison_id AND annotator_id <> :annotator_id
               AND expires_at > statement_timestamp()) < :k
      AND NOT EXISTS (SELECT 1 FROM preference
                      WHERE comparison_id = :comparison_id AND annotator_id = :annotator_id)
    ON CONFLICT (comparison_id, annotator_id)
        DO UPDATE SET expires_at = EXCLUDED.expires_at, created_at = statement_timestamp()
    RETURNING comparison_id
    """
)

_CONTENT = text(
    """
    SELECT c.id AS comparison_id, p.text AS prompt, c.response_a, c.response_b, l.expires_at AS lease_expires_at
    FROM comparison c JOIN prompt p ON p.id = c.prompt_id
    JOIN lease l ON l.comparison_id = c.id AND l.annotator_id = :annotator_id
    WHERE c.id = :comparison_id
    """
)


def next_comparison(session: Session, annotator: Annotator, dataset_id: int) -> Assignment | None:
    """Lease the annotator a comparison of the dataset (the one they hold, if any); None when none is free."""
    params = {"annotator_id": annotator.id, "dataset_id": dataset_id}
    row = session.execute(_DATASET_AND_HELD, params).one_or_none()
    if row is None:
        raise NotFoundError(f"dataset {dataset_id} not found")
    k, held = row
    lease_seconds = get_settings().lease_seconds
    params |= {"k": k, "lease_seconds": lease_seconds}
    if held is not None and session.execute(_REFRESH, params | {"comparison_id": held}).first():
        return _assignment(session, annotator.id, held)
    tried: list[int] = []
    while True:
        candidate = session.execute(_CANDIDATE, params | {"tried": tried}).scalar()
        if candidate is None:
            session.commit()
            return None
        if session.execute(_GRANT, params | {"comparison_id": candidate}).first():
            return _assignment(session, annotator.id, candidate)
        # Its slots filled between the search's snapshot and the lock: look further.
        tried.append(candidate)


def _assignment(session: Session, annotator_id: int, comparison_id: int) -> Assignment:
    row = session.execute(_CONTENT, {"annotator_id": annotator_id, "comparison_id": comparison_id}).one()
    session.commit()
    return Assignment(**row._asdict())


# Lock the comparison; also look up a preference stored earlier under the same idempotency key.
_LOCK = text(
    """
    SELECT c.vote_count, d.annotations_per_comparison AS k,
           (SELECT p.id FROM preference p
            WHERE p.annotator_id = :annotator_id AND p.idempotency_key = :key) AS replay_id
    FROM comparison c JOIN dataset d ON d.id = c.dataset_id
    WHERE c.id = :comparison_id
    FOR UPDATE OF c
    """
)

# Under the lock, in a fresh snapshot: release this annotator's lease and read what decides the vote.
_RELEASE = text(
    """
    WITH mine AS (
        DELETE FROM lease WHERE comparison_id = :comparison_id AND annotator_id = :annotator_id
        RETURNING created_at, expires_at > statement_timestamp() AS live
    )
    SELECT (SELECT created_at FROM mine) AS leased_at,
           coalesce((SELECT live FROM mine), false) AS live,
           (SELECT count(*) FROM lease
            WHERE comparison_id = :comparison_id AND annotator_id <> :annotator_id
              AND expires_at > statement_timestamp()) AS others,
           EXISTS (SELECT 1 FROM preference
                   WHERE comparison_id = :comparison_id AND annotator_id = :annotator_id) AS voted,
           (SELECT vote_count FROM comparison WHERE id = :comparison_id) AS vote_count
    """
)

_PREFERENCE_COLUMNS = (
    "id, comparison_id, annotator_id, choice, strength, rationale, time_spent_ms, shown_left, both_bad, "
    "idempotency_key, leased_at, created_at"
)

_INSERT = text(
    f"""
    WITH stored AS (
        INSERT INTO preference (comparison_id, annotator_id, choice, strength, rationale, time_spent_ms,
                                shown_left, both_bad, idempotency_key, leased_at)
        VALUES (:comparison_id, :annotator_id, :choice, :strength, :rationale, :time_spent_ms,
                :shown_left, :both_bad, :key, :leased_at)
        ON CONFLICT DO NOTHING
        RETURNING {_PREFERENCE_COLUMNS}
    ), counted AS (
        UPDATE comparison SET vote_count = vote_count + 1, is_complete = vote_count + 1 >= :k
        WHERE id = :comparison_id AND :fills_slot AND EXISTS (SELECT 1 FROM stored)
    )
    SELECT {_PREFERENCE_COLUMNS} FROM stored
    """
)

_BY_KEY = text(
    f"SELECT {_PREFERENCE_COLUMNS} FROM preference WHERE annotator_id = :annotator_id AND idempotency_key = :key"
)


def check_vote(vote: Vote) -> None:
    if vote.choice not in ("a", "b", "tie", "skip"):
        raise InvalidInputError("choice must be one of a, b, tie, skip")
    if vote.strength is not None:
        if vote.choice not in ("a", "b"):
            raise InvalidInputError("strength applies only to choice a or b")
        if not 1 <= vote.strength <= 3:
            raise InvalidInputError("strength must be 1, 2 or 3")
    if vote.both_bad and vote.choice != "tie":
        raise InvalidInputError("both_bad is a kind of tie: it needs choice 'tie'")
    if vote.shown_left not in (None, "a", "b"):
        raise InvalidInputError("shown_left must be 'a' or 'b'")
    if vote.time_spent_ms is not None and not 0 <= vote.time_spent_ms < 2**63:
        raise InvalidInputError("time_spent_ms must be a non-negative integer")
    if vote.rationale is not None:
        check_text("rationale", vote.rationale)


def record_preference(
    session: Session,
    annotator: Annotator,
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
    params = {"annotator_id": annotator.id, "comparison_id": comparison_id, "key": idempotency_key}
    locked = session.execute(_LOCK, params).one_or_none()
    if locked is None:
        session.rollback()
        raise NotFoundError(f"comparison {comparison_id} not found")
    if locked.replay_id is not None:
        return _replay(session, annotator.id, comparison_id, idempotency_key)
    state = session.execute(_RELEASE, params).one()
    if state.voted:
        # A concurrent retry with this key may have committed while this request waited for the lock.
        if idempotency_key is not None and session.execute(_BY_KEY, params).first():
            return _replay(session, annotator.id, comparison_id, idempotency_key)
        session.rollback()
        raise ConflictError(f"annotator {annotator.id} has already judged comparison {comparison_id}")
    if not state.live and state.vote_count + state.others >= locked.k:
        session.rollback()
        raise ConflictError(
            f"comparison {comparison_id} has no free slot: your lease is missing or expired and "
            f"{state.vote_count} votes plus {state.others} leases of others fill its {locked.k}"
        )
    row = session.execute(
        _INSERT,
        params
        | {
            "choice": vote.choice,
            "strength": vote.strength,
            "rationale": vote.rationale,
            "time_spent_ms": vote.time_spent_ms,
            "shown_left": vote.shown_left,
            "both_bad": vote.both_bad,
            "leased_at": state.leased_at,
            "k": locked.k,
            "fills_slot": vote.choice != "skip",
        },
    ).one_or_none()
    if row is None:
        # Only the idempotency key can clash here: another request with it committed meanwhile.
        session.rollback()
        return _replay(session, annotator.id, comparison_id, idempotency_key)
    session.commit()
    return StoredPreference(**row._asdict())


def _replay(session: Session, annotator_id: int, comparison_id: int, key: str | None) -> StoredPreference:
    row = session.execute(_BY_KEY, {"annotator_id": annotator_id, "key": key}).one()
    session.rollback()
    if row.comparison_id != comparison_id:
        raise InvalidInputError(
            f"Idempotency-Key {key!r} was already used for comparison {row.comparison_id}"
        )
    return StoredPreference(**row._asdict())
