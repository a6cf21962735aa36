"""Annotators: issued by the admin, authenticated by a hashed bearer token that can be revoked, expire, or be
replaced (rotated); each works on every dataset (the default) or on the datasets assigned to them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session

from services.core.db import fetch_all
from services.core.enums import AnnotatorRole, AnnotatorStatus
from services.core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from services.core.orm import Annotator, AnnotatorDataset, Dataset, Lease
from services.core.security import hash_token, new_token
from services.domain.limits import check_text

IMPORT_ANNOTATOR_NAME = "import"


@dataclass(frozen=True)
class Identity:
    """The annotator a bearer token belongs to: all that requests need, without loading the ORM row."""

    id: int
    name: str
    # The datasets they may work on; None: every dataset.
    datasets: frozenset[int] | None = None
    # Why the token no longer works (revoked or expired); None while it does.
    refused: str | None = None

    def may_work_on(self, dataset_id: int) -> bool:
        return self.datasets is None or dataset_id in self.datasets

    def check_dataset(self, dataset_id: int) -> None:
        if not self.may_work_on(dataset_id):
            raise ForbiddenError(f"dataset {dataset_id} is not assigned to annotator {self.name!r}")


@dataclass(frozen=True)
class AnnotatorSummary:
    """An annotator as the admin sees it: access, assignment and what they have done."""

    id: int
    name: str
    status: AnnotatorStatus
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    all_datasets: bool
    datasets: list[int]  # assigned when all_datasets is false
    votes: int  # a, b or tie
    skips: int
    last_vote_at: datetime | None


def status_of(*, revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> AnnotatorStatus:
    if revoked_at is not None:
        return AnnotatorStatus.REVOKED
    if expires_at is not None and expires_at <= now:
        return AnnotatorStatus.EXPIRED
    return AnnotatorStatus.ACTIVE


# --- the annotator's own requests (async, on the collector's event loop) -------------------------------------

# Every annotator request starts here: one statement, straight through the driver, in the request's
# transaction. The assigned datasets come along (read only for annotators restricted to some), so that
# `next`, votes and /me check them without another round trip.
_BY_TOKEN = """
    SELECT a.id, a.name, a.revoked_at, a.expires_at, a.expires_at <= statement_timestamp() AS expired,
           CASE WHEN NOT a.all_datasets
                THEN ARRAY(SELECT ad.dataset_id FROM annotator_dataset ad WHERE ad.annotator_id = a.id)
           END AS datasets
    FROM annotator a WHERE a.token_hash = %(hash)s
"""


async def get_by_token(connection: psycopg.AsyncConnection[Any], token: str) -> Identity | None:
    """The token's annotator (with `refused` set when it was revoked or has expired); None for an unknown token."""
    rows = await fetch_all(connection, _BY_TOKEN, {"hash": hash_token(token)})
    if not rows:
        return None
    row = rows[0]
    refused = None
    if row["revoked_at"] is not None:
        refused = f"this annotator token was revoked at {_moment(row['revoked_at'])}"
    elif row["expired"]:
        refused = f"this annotator token expired at {_moment(row['expires_at'])}"
    datasets = None if row["datasets"] is None else frozenset(row["datasets"])
    return Identity(id=row["id"], name=row["name"], datasets=datasets, refused=refused)


def _moment(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


# --- the admin's requests ----------------------------------------------------------------------------------


def create(
    session: Session,
    *,
    name: str,
    expires_at: datetime | None = None,
    datasets: Sequence[int] | None = None,
) -> tuple[AnnotatorSummary, str]:
    """Create an annotator; return it with its token, which is shown this once and stored only hashed.

    `datasets`: None gives them every dataset, a list only those (checked to exist)."""
    name = name.strip()
    if not name:
        raise InvalidInputError("name must not be empty")
    check_text("name", name)
    check_expiry(session, expires_at)
    assigned = _existing_datasets(session, datasets)
    token = new_token()
    annotator = Annotator(
        name=name,
        role=AnnotatorRole.ANNOTATOR,
        token_hash=hash_token(token),
        expires_at=expires_at,
        all_datasets=assigned is None,
    )
    session.add(annotator)
    session.flush()
    _write_assignment(session, annotator.id, assigned)
    session.commit()
    return summary(session, annotator.id), token


def list_all(session: Session) -> list[AnnotatorSummary]:
    """Every person issued a token (not the built-in `import` annotator), oldest first."""
    return _summaries(session, None)


def summary(session: Session, annotator_id: int) -> AnnotatorSummary:
    found = _summaries(session, annotator_id)
    if not found:
        raise NotFoundError(f"annotator {annotator_id} not found")
    return found[0]


def revoke(session: Session, annotator_id: int) -> AnnotatorSummary:
    """Refuse the annotator's token from now on and hand their leased comparisons back to the pool. Their
    votes stay. Revoking twice keeps the first time."""
    annotator = _get_for_update(session, annotator_id)
    if annotator.revoked_at is None:
        annotator.revoked_at = db_now(session)
    session.execute(delete(Lease).where(Lease.annotator_id == annotator_id))
    session.commit()
    return summary(session, annotator_id)


_UNCHANGED: Any = object()


def rotate_token(
    session: Session, annotator_id: int, *, expires_at: datetime | None = _UNCHANGED
) -> tuple[AnnotatorSummary, str]:
    """Issue the annotator a new token (the old one stops working at once); only this answer shows it.

    `expires_at` replaces the expiry when given (None: never). A revoked annotator stays revoked: 409."""
    annotator = _get_for_update(session, annotator_id)
    if annotator.revoked_at is not None:
        raise ConflictError(
            f"annotator {annotator_id} was revoked; create a new annotator to give this person access again"
        )
    if expires_at is not _UNCHANGED:
        check_expiry(session, expires_at)
        annotator.expires_at = expires_at
    elif annotator.expires_at is not None and annotator.expires_at <= db_now(session):
        raise InvalidInputError(
            f"annotator {annotator_id} expired at {_moment(annotator.expires_at)}: give a new expires_at "
            "(or null for none) with the new token"
        )
    token = new_token()
    annotator.token_hash = hash_token(token)
    session.commit()
    return summary(session, annotator_id), token


def assign(session: Session, annotator_id: int, datasets: Sequence[int] | None) -> AnnotatorSummary:
    """Set the datasets an annotator may work on (None: every dataset). Their leases on other datasets are
    handed back to the pool."""
    annotator = _get_for_update(session, annotator_id)
    assigned = _existing_datasets(session, datasets)
    annotator.all_datasets = assigned is None
    session.execute(delete(AnnotatorDataset).where(AnnotatorDataset.annotator_id == annotator_id))
    _write_assignment(session, annotator_id, assigned)
    if assigned is not None:
        session.execute(
            text(
                "DELETE FROM lease l USING comparison c WHERE l.comparison_id = c.id "
                "AND l.annotator_id = :annotator_id AND NOT c.dataset_id = ANY(CAST(:datasets AS bigint[]))"
            ),
            {"annotator_id": annotator_id, "datasets": sorted(assigned)},
        )
    session.commit()
    return summary(session, annotator_id)


def import_annotator(session: Session) -> Annotator:
    """The built-in `import` annotator (created by the first migration) that carries imported winners."""
    return session.execute(
        select(Annotator).where(
            Annotator.role == AnnotatorRole.SYSTEM, Annotator.name == IMPORT_ANNOTATOR_NAME
        )
    ).scalar_one()


def token_works(session: Session, token: str) -> bool:
    """Whether a token belongs to an annotator who may sign in now (neither revoked nor expired)."""
    found = session.execute(
        select(Annotator.revoked_at, Annotator.expires_at).where(Annotator.token_hash == hash_token(token))
    ).one_or_none()
    if found is None:
        return False
    return status_of(revoked_at=found[0], expires_at=found[1], now=db_now(session)) == AnnotatorStatus.ACTIVE


# --- helpers -----------------------------------------------------------------------------------------------


def db_now(session: Session) -> datetime:
    # The database's clock, the one the token lookup compares expiries with.
    now: datetime = session.execute(text("SELECT statement_timestamp()")).scalar_one()
    return now


def check_expiry(session: Session, expires_at: datetime | None) -> None:
    if expires_at is None:
        return
    if expires_at.tzinfo is None:
        raise InvalidInputError("expires_at needs a time zone (e.g. 2030-01-31T18:00:00Z)")
    if expires_at <= db_now(session):
        raise InvalidInputError(f"expires_at {expires_at.isoformat()} is in the past")


def _existing_datasets(session: Session, datasets: Sequence[int] | None) -> frozenset[int] | None:
    if datasets is None:
        return None
    wanted = frozenset(datasets)
    found = set(session.scalars(select(Dataset.id).where(Dataset.id.in_(sorted(wanted)))))
    missing = sorted(wanted - found)
    if missing:
        raise InvalidInputError(f"datasets not found: {', '.join(map(str, missing))}")
    return wanted


def _write_assignment(session: Session, annotator_id: int, assigned: frozenset[int] | None) -> None:
    if assigned:
        session.execute(
            insert(AnnotatorDataset),
            [{"annotator_id": annotator_id, "dataset_id": dataset_id} for dataset_id in sorted(assigned)],
        )


def _get_for_update(session: Session, annotator_id: int) -> Annotator:
    annotator = session.scalar(
        select(Annotator)
        .where(Annotator.id == annotator_id, Annotator.role == AnnotatorRole.ANNOTATOR)
        .with_for_update()
    )
    if annotator is None:
        raise NotFoundError(f"annotator {annotator_id} not found")
    return annotator


_SUMMARIES = text(
    """
    SELECT a.id, a.name, a.created_at, a.expires_at, a.revoked_at, a.all_datasets,
           statement_timestamp() AS now,
           coalesce((SELECT array_agg(ad.dataset_id ORDER BY ad.dataset_id) FROM annotator_dataset ad
                     WHERE ad.annotator_id = a.id), '{}') AS datasets,
           count(p.id) FILTER (WHERE p.choice <> 'skip') AS votes,
           count(p.id) FILTER (WHERE p.choice = 'skip') AS skips,
           max(p.created_at) AS last_vote_at
    FROM annotator a LEFT JOIN preference p ON p.annotator_id = a.id
    WHERE a.role = :role AND (CAST(:id AS bigint) IS NULL OR a.id = :id)
    GROUP BY a.id
    ORDER BY a.id
    """
)


def _summaries(session: Session, annotator_id: int | None) -> list[AnnotatorSummary]:
    rows = session.execute(_SUMMARIES, {"role": AnnotatorRole.ANNOTATOR.value, "id": annotator_id}).mappings()
    return [
        AnnotatorSummary(
            id=row["id"],
            name=row["name"],
            status=status_of(revoked_at=row["revoked_at"], expires_at=row["expires_at"], now=row["now"]),
            created_at=row["created_at"],
            expires_at=row["expires_at"],
            revoked_at=row["revoked_at"],
            all_datasets=row["all_datasets"],
            datasets=list(row["datasets"]) if not row["all_datasets"] else [],
            votes=row["votes"],
            skips=row["skips"],
            last_vote_at=row["last_vote_at"],
        )
        for row in rows
    ]
