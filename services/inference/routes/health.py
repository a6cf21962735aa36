from fastapi import APIRouter

from services.core.settings import get_settings

router = APIRouter(tags=["health"])


@router.get("/health")
def health() -> dict[str, str | None]:
    """Liveness; `instance` is RLHF_INSTANCE_ID (set by `rlhf up`, else null)."""
    return {"status": "ok", "instance": get_settings().instance_id}
