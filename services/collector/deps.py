"""Request dependencies, as `Annotated` aliases used as types."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from services.collector.auth import ADMIN, Principal
from services.core.db import get_sessionmaker
from services.core.enums import ApiKeyScope
from services.core.guard import PRINCIPAL
from services.domain.api_keys import KeyIdentity


def get_session() -> Iterator[Session]:
    session = get_sessionmaker()()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


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


AdminDep = Annotated[None, Depends(require(ApiKeyScope.ADMIN))]
ReadDep = Annotated[None, Depends(require(ApiKeyScope.READ))]
TrainDep = Annotated[None, Depends(require(ApiKeyScope.TRAIN))]
# Jobs and model versions: reading them is part of training (a CI job waits for its job) and of reading.
ReadOrTrainDep = Annotated[None, Depends(require(ApiKeyScope.READ, ApiKeyScope.TRAIN))]
