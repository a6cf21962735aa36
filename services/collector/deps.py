"""Request dependencies, as `Annotated` aliases used as types."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Annotated, Any

import psycopg
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from services.collector.auth import ADMIN, Principal
from services.core.db import get_sessionmaker
from services.core.enums import ApiKeyScope
from services.core.guard import PRINCIPAL
from services.domain.annotators import Identity
from services.domain.api_keys import KeyIdentity


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


bearer = HTTPBearer(auto_error=False)


def get_principal(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """Who is calling, as the request guard found it before the body was read (auth.authenticate). (`bearer`
    reads nothing the guard did not: it puts the bearer scheme on the OpenAPI page.)"""
    principal: Principal = getattr(request.state, PRINCIPAL)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def _forbidden(detail: str) -> HTTPException:
    return HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail=detail)


def require(*scopes: ApiKeyScope) -> Callable[[Principal], None]:
    """A dependency: the admin token, or an API key with one of these scopes (or `admin`)."""
    needed = " or ".join(scope.value for scope in scopes)
    wanted = "the admin token" if scopes == (ApiKeyScope.ADMIN,) else f"an API key with scope {needed}"

    def check(principal: PrincipalDep) -> None:
        if principal is ADMIN or (isinstance(principal, KeyIdentity) and principal.allows(*scopes)):
            return
        if isinstance(principal, KeyIdentity):
            raise _forbidden(
                f"this endpoint needs {wanted}; this key has {', '.join(sorted(principal.scopes))}"
            )
        raise _forbidden(f"this endpoint needs {wanted} (or the admin token)")

    return check


def current_annotator(principal: PrincipalDep) -> Identity:
    if isinstance(principal, Identity):
        return principal
    raise _forbidden("this endpoint needs an annotator token")


AdminDep = Annotated[None, Depends(require(ApiKeyScope.ADMIN))]
ReadDep = Annotated[None, Depends(require(ApiKeyScope.READ))]
TrainDep = Annotated[None, Depends(require(ApiKeyScope.TRAIN))]
# Jobs and model versions: reading them is part of training (a CI job waits for its job) and of reading.
ReadOrTrainDep = Annotated[None, Depends(require(ApiKeyScope.READ, ApiKeyScope.TRAIN))]
CurrentAnnotator = Annotated[Identity, Depends(current_annotator)]
