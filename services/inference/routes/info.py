from typing import Any

from fastapi import APIRouter

from services.core.enums import ModelKind
from services.inference.runtime import RuntimeDep
from services.inference.schemas import MAX_REWARD_PAIRS
from services.inference.validation import MAX_STOP_SEQUENCES

VERSION = "0.1.0"

router = APIRouter(tags=["Text Generation Inference"])


@router.get("/info")
def info(runtime: RuntimeDep) -> dict[str, Any]:
    """TGI's /info fields for the serving policy, plus the loaded policy and reward versions."""
    settings = runtime.settings
    policy = runtime.registry.serving(ModelKind.POLICY)
    window = policy.window if policy is not None else None
    return {
        "model_id": policy.name if policy is not None else None,
        "model_sha": None,
        "model_dtype": str(next(policy.model.parameters()).dtype) if policy is not None else None,
        "model_device_type": policy.device.type if policy is not None else None,
        "model_pipeline_tag": "text-generation",
        "max_concurrent_requests": settings.max_queue_size,
        "max_best_of": settings.max_best_of,
        "max_stop_sequences": MAX_STOP_SEQUENCES,
        "max_input_tokens": window - 1 if window is not None else None,
        "max_total_tokens": window,
        "max_new_tokens": settings.max_new_tokens_cap,
        "max_client_batch_size": MAX_REWARD_PAIRS,
        "router": "rlhf-platform inference",
        "version": VERSION,
        "sha": None,
        "docker_label": None,
        **runtime.registry.describe(),
        "batching": {
            "reward": {
                "max_batch_size": settings.reward_max_batch_size,
                "max_batch_tokens": settings.reward_max_batch_tokens,
                "max_wait_ms": settings.reward_max_wait_ms,
                "queued": runtime.reward_batcher.queued_units,
            },
            "generate": {
                "max_batch_size": settings.generate_max_batch_size,
                "max_wait_ms": settings.generate_max_wait_ms,
                "queued": runtime.generate_batcher.queued_units,
            },
            "max_queue_size": settings.max_queue_size,
        },
    }
