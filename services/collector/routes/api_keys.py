"""The admin's endpoints for API keys: issue (the key shown once), list (without keys), revoke."""

from fastapi import APIRouter, Response, status

from services.collector.deps import AdminDep, SessionDep
from services.collector.params import IdPath
from services.collector.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, ApiKeysPublic
from services.domain import api_keys

router = APIRouter(tags=["api keys"])


@router.post("/api-keys", status_code=status.HTTP_201_CREATED)
def create_api_key(body: ApiKeyCreate, session: SessionDep, _: AdminDep) -> ApiKeyCreated:
    """Issue a key with these scopes; only this answer shows it."""
    item, key = api_keys.create(session, name=body.name, scopes=body.scopes, expires_at=body.expires_at)
    return ApiKeyCreated.model_validate(
        ApiKeyPublic.model_validate(item, from_attributes=True).model_dump() | {"key": key}
    )


@router.get("/api-keys")
def list_api_keys(session: SessionDep, _: AdminDep) -> ApiKeysPublic:
    items = [ApiKeyPublic.model_validate(item, from_attributes=True) for item in api_keys.list_all(session)]
    return ApiKeysPublic(data=items, count=len(items))


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_api_key(key_id: IdPath, session: SessionDep, _: AdminDep) -> Response:
    """Refuse the key from the next request on (both services)."""
    api_keys.revoke(session, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
