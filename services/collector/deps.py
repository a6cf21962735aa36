"""Request dependencies, as `Annotated` aliases used as types."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import psycopg
from fastapi import Depends, HTTPException, Request, status
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


async def get_connection(request: Request) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    """A connection of the lifespan's async pool, for routes that run on the event loop; it commits on success,
    rolls back on an error (psycopg's connection context) and goes back to the pool before the answer is sent."""
    async with request.state.db_pool.connection() as connection:
        yield connection


ConnectionDep = Annotated[psycopg.AsyncConnection[Any], Depends(get_connection, scope="function")]
CredentialsDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]

UNAUTHORIZED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="missing or invalid bearer token",
    headers={"WWW-Authenticate": "Bearer"},
)


def _is_admin(credentials: HTTPAuthorizationCredentials) -> bool:
    return tokens_equal(credentials.credentials, get_settings().resolved_admin_token())


async def require_admin(request: Request, credentials: CredentialsDep) -> None:
    if credentials is None:
        raise UNAUTHORIZED
    if _is_admin(credentials):
        return
    # Only a refused request needs the database (to tell an annotator's token from a wrong one).
    async with request.state.db_pool.connection() as connection:
        annotator = await annotators.get_by_token(connection, credentials.credentials)
    if annotator is not None and annotator.refused is None:
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN, detail="this endpoint needs the admin token"
        )
    raise UNAUTHORIZED


async def current_annotator(connection: ConnectionDep, credentials: CredentialsDep) -> Identity:
    if credentials is None:
        raise UNAUTHORIZED
    annotator = await annotators.get_by_token(connection, credentials.credentials)
    if annotator is not None:
        if annotator.refused is not None:
            # Said plainly, so the web form can tell the annotator why and what to do.
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail=f"{annotator.refused}; ask your project admin for a new sign-in link",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return annotator
    if _is_admin(credentials):
        raise HTTPException(
            status_code=status.HTTP_403_FORBIDDEN, detail="this endpoint needs an annotator token"
        )
    raise UNAUTHORIZED


AdminDep = Annotated[None, Depends(require_admin)]
CurrentAnnotator = Annotated[Identity, Depends(current_annotator)]
