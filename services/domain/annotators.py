"""Annotators: issued by the admin, authenticated by a hashed bearer token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.core.db import fetch_all
from services.core.enums import AnnotatorRole
from services.core.errors import InvalidInputError
from services.core.orm import Annotator
from services.core.security import hash_token, new_token

IMPORT_ANNOTATOR_NAME = "import"


@dataclass(frozen=True)
class Identity:
    """The annotator a bearer token belongs to: all that requests need, without loading the ORM row."""

    id: int
    name: str


def create(session: Session, *, name: str) -> tuple[Annotator, str]:
    """Create an annotator; return it with its token, which is shown this once and stored only hashed."""
    name = name.strip()
    if not name:
        raise InvalidInputError("name must not be empty")
    token = new_token()
    annotator = Annotator(name=name, role=AnnotatorRole.ANNOTATOR, token_hash=hash_token(token), active=True)
    session.add(annotator)
    session.commit()
    return annotator, token


async def get_by_token(connection: psycopg.AsyncConnection[Any], token: str) -> Identity | None:
    # Every annotator request starts here, so it goes straight through the driver, in the request's transaction.
    rows = await fetch_all(
        connection,
        "SELECT id, name FROM annotator WHERE token_hash = %(hash)s AND active",
        {"hash": hash_token(token)},
    )
    return Identity(**rows[0]) if rows else None


def import_annotator(session: Session) -> Annotator:
    """The built-in `import` annotator (created by the first migration) that carries imported winners."""
    return session.execute(
        select(Annotator).where(
            Annotator.role == AnnotatorRole.SYSTEM, Annotator.name == IMPORT_ANNOTATOR_NAME
        )
    ).scalar_one()
