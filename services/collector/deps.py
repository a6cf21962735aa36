"""Request dependencies, as `Annotated` aliases used as types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import AsyncConnectionPool
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


async def get_pool(request: Request) -> AsyncConnectionPool:
    """The lifespan's async pool, for routes that run on the event loop: they take a connection for their
    domain call (`async with pool.connection()`: it commits on success, rolls back on an error and goes back
    to the pool before the answer is sent). Not a generator dependency: FastAPI wraps each of those in a
    cancel scope and an exit stack, which cost the annotator's endpoints more CPU than their SQL statements'
    round trips (profiled under 32 annotators)."""
    pool: AsyncConnectionPool = request.state.db_pool
    return pool


PoolDep = Annotated[AsyncConnectionPool, Depends(get_pool)]


bearer = HTTPBearer(auto_error=False)


async def get_principal(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Principal:
    """Who is calling, as the request guard found it before the body was read (auth.authenticate). (`bearer`
    reads nothing the guard did not: it puts the bearer scheme on the OpenAPI page.) This and the checks below
    are `async def` although they never wait: FastAPI runs a plain `def` dependency on a worker thread, a
    thread hop per request for a few attribute reads."""
    principal: Principal = getattr(request.state, PRINCIPAL)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def _forbidden(detail: str) -> HTTPException:
    return HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail=detail)


def require(*scopes: ApiKeyScope) -> Callable[[Principal], Awaitable[None]]:
    """A dependency: the admin token, or an API key with one of these scopes (or `admin`)."""
    needed = " or ".join(scope.value for scope in scopes)
    wanted = "the admin token" if scopes == (ApiKeyScope.ADMIN,) else f"an API key with scope {needed}"

    async def check(principal: PrincipalDep) -> None:
        if principal is ADMIN or (isinstance(principal, KeyIdentity) and principal.allows(*scopes)):
            return
        if isinstance(principal, KeyIdentity):
            raise _forbidden(
                f"this endpoint needs {wanted}; this key has {', '.join(sorted(principal.scopes))}"
            )
        raise _forbidden(f"this endpoint needs {wanted} (or the admin token)")

    return check


async def current_annotator(principal: PrincipalDep) -> Identity:
    if isinstance(principal, Identity):
        return principal
    raise _forbidden("this endpoint needs an annotator token")


AdminDep = Annotated[None, Depends(require(ApiKeyScope.ADMIN))]
ReadDep = Annotated[None, Depends(require(ApiKeyScope.READ))]
TrainDep = Annotated[None, Depends(require(ApiKeyScope.TRAIN))]
# Jobs and model versions: reading them is part of training (a CI job waits for its job) and of reading.
ReadOrTrainDep = Annotated[None, Depends(require(ApiKeyScope.READ, ApiKeyScope.TRAIN))]
CurrentAnnotator = Annotated[Identity, Depends(current_annotator)]
