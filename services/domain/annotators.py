"""Annotators: issued by the admin, authenticated by a hashed bearer token."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.core.errors import InvalidInputError
from services.core.models import Annotator
from services.core.security import hash_token, new_token

IMPORT_ANNOTATOR_NAME = "import"


def create(session: Session, *, name: str) -> tuple[Annotator, str]:
    """Create an annotator; return it with its token, which is shown this once and stored only hashed."""
    name = name.strip()
    if not name:
        raise InvalidInputError("name must not be empty")
    token = new_token()
    annotator = Annotator(name=name, role="annotator", token_hash=hash_token(token), active=True)
    session.add(annotator)
    session.commit()
    return annotator, token


def get_by_token(session: Session, token: str) -> Annotator | None:
    return session.scalar(
        select(Annotator).where(Annotator.token_hash == hash_token(token), Annotator.active.is_(True))
    )


def import_annotator(session: Session) -> Annotator:
    """The built-in `import` annotator (created by the first migration) that carries imported winners."""
    return session.execute(
        select(Annotator).where(Annotator.role == "system", Annotator.name == IMPORT_ANNOTATOR_NAME)
    ).scalar_one()
