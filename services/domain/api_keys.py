"""API keys: issued by the admin for machines (CI jobs, clusters, workers), each limited to its scopes
(services/core/enums.ApiKeyScope); shown once, stored hashed like annotator tokens, revoked at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from services.core.db import fetch_all
from services.core.enums import AnnotatorStatus, ApiKeyScope
from services.core.errors import InvalidInputError, NotFoundError
from services.core.orm import ApiKey
from services.core.security import hash_token, new_token
from services.domain.annotators import check_expiry, db_now, status_of
from services.domain.limits import check_text

# Keys are told apart from annotator tokens at a glance (logs, leaked-secret scanners).
KEY_PREFIX = "rlhf_"


@dataclass(frozen=True)
class KeyIdentity:
    """The API key a bearer token is: what requests need to authorize it."""

    id: int
    name: str
    scopes: frozenset[ApiKeyScope]
    # Why the key no longer works (revoked or expired); None while it does.
    refused: str | None = None

    def allows(self, *scopes: ApiKeyScope) -> bool:
        return ApiKeyScope.ADMIN in self.scopes or any(scope in self.scopes for scope in scopes)


@dataclass(frozen=True)
class KeySummary:
    id: int
    name: str
    scopes: list[ApiKeyScope]
    status: AnnotatorStatus
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


def is_api_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


_BY_KEY = """
    SELECT id, name, scopes, revoked_at, expires_at, expires_at <= statement_timestamp() AS expired
    FROM api_key WHERE key_hash = %(hash)s
"""


async def get_by_key(connection: psycopg.AsyncConnection[Any], key: str) -> KeyIdentity | None:
    """The key's identity (with `refused` set when it was revoked or has expired); None for an unknown key."""
    rows = await fetch_all(connection, _BY_KEY, {"hash": hash_token(key)})
    if not rows:
        return None
    row = rows[0]
    refused = None
    if row["revoked_at"] is not None:
        refused = "this API key was revoked"
    elif row["expired"]:
        refused = "this API key has expired"
    scopes = frozenset(ApiKeyScope(scope) for scope in row["scopes"])
    return KeyIdentity(id=row["id"], name=row["name"], scopes=scopes, refused=refused)


def create(
    session: Session, *, name: str, scopes: Sequence[ApiKeyScope], expires_at: datetime | None = None
) -> tuple[KeySummary, str]:
    """Issue a key; return it with the key itself, which is shown this once and stored only hashed."""
    name = name.strip()
    if not name:
        raise InvalidInputError("name must not be empty")
    check_text("name", name)
    if not scopes:
        raise InvalidInputError(f"scopes must name at least one of {', '.join(ApiKeyScope)}")
    check_expiry(session, expires_at)
    key = KEY_PREFIX + new_token()
    row = ApiKey(
        name=name,
        key_hash=hash_token(key),
        scopes=sorted({str(scope) for scope in scopes}),
        expires_at=expires_at,
    )
    session.add(row)
    session.commit()
    return _summary(row, db_now(session)), key


def list_all(session: Session) -> list[KeySummary]:
    now = db_now(session)
    return [_summary(row, now) for row in session.scalars(select(ApiKey).order_by(ApiKey.id))]


def revoke(session: Session, key_id: int) -> None:
    """Refuse the key from now on (the next request that carries it). Revoking twice keeps the first time."""
    found = session.execute(
        text("UPDATE api_key SET revoked_at = coalesce(revoked_at, statement_timestamp()) WHERE id = :id"),
        {"id": key_id},
    )
    if found.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFoundError(f"API key {key_id} not found")
    session.commit()


def _summary(row: ApiKey, now: datetime) -> KeySummary:
    return KeySummary(
        id=row.id,
        name=row.name,
        scopes=[ApiKeyScope(scope) for scope in row.scopes],
        status=status_of(revoked_at=row.revoked_at, expires_at=row.expires_at, now=now),
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )
