"""Request dependencies, as `Annotated` aliases used as types."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from services.core.db import get_sessionmaker
from services.core.security import tokens_equal
from services.core.settings import get_settings
from services.domain import annotators
from services.domain.annotators import Identity

bearer = HTTPBearer(auto_error=False)


def get_session() -> Iterator[Session]:
    session = get_sessionmaker()()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]
CredentialsDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]

UNAUTHORIZED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="missing or invalid bearer token",
    headers={"WWW-Authenticate": "Bearer"},
)


def _is_admin(credentials: HTTPAuthorizationCredentials) -> bool:
    return tokens_equal(credentials.credentials, get_settings().resolved_admin_token())


def require_admin(session: SessionDep, credentials: CredentialsDep) -> None:
    if credentials is None:
        raise UNAUTHORIZED
    if _is_admin(credentials):
        return
    if annotators.get_by_token(session, credentials.credentials) is not None:
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN, detail="this endpoint needs the admin token"
        )
    raise UNAUTHORIZED


def current_annotator(session: SessionDep, credentials: CredentialsDep) -> Identity:
    if credentials is None:
        raise UNAUTHORIZED
    annotator = annotators.get_by_token(session, credentials.credentials)
    if annotator is not None:
        return annotator
    if _is_admin(credentials):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN, detail="this endpoint needs an annotator token"
        )
    raise UNAUTHORIZED


AdminDep = Annotated[None, Depends(require_admin)]
CurrentAnnotator = Annotated[Identity, Depends(current_annotator)]
