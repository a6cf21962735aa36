"""From a /reward or /get_reward request to what the scoring batcher takes: which reward scores it (a named
reward's newest version, or the promoted model for `default`, services/domain/rewards.py) and its inputs,
checked (sizes, references) before anything is queued."""

from __future__ import annotations

import psycopg
from psycopg_pool import PoolTimeout

from services.core.db import lookup_connection
from services.core.enums import ModelKind
from services.core.errors import NotFoundError
from services.domain import rewards
from services.inference.errors import ModelUnavailableError, RewardNotFoundError, ValidationError
from services.inference.rewards import RewardInput, ScoreRequest
from services.inference.runtime import Runtime
from services.inference.validation import check_text_size
from services.modeling.combined_reward import RewardSpec


async def resolve_spec(runtime: Runtime, name: str | None) -> RewardSpec | None:
    """The named reward's newest version; None: the promoted reward model serves (503 at once when none).
    One statement on the event loop's pool: no thread hop, no ORM session per request."""
    spec = None
    pool = runtime.db_pool
    try:
        async with lookup_connection(pool) as connection:
            stored = await rewards.serving(connection, name)
        if stored is not None:
            spec = RewardSpec.from_stored(stored.name, stored.version, stored.components, stored.safety_gate)
    except NotFoundError as exc:
        raise RewardNotFoundError(f"{exc.message}: create it with POST /api/v1/rewards") from exc
    except (psycopg.Error, PoolTimeout) as exc:
        if isinstance(exc, psycopg.OperationalError):
            await pool.check()  # after a PostgreSQL restart every idle pooled connection is dead
        if name not in (None, rewards.DEFAULT):
            raise ModelUnavailableError(
                f"cannot read the reward {name!r}: the database is unreachable"
            ) from exc
        # As before named rewards: the promoted model keeps serving while the database is away.
    if spec is None:
        runtime.serving(ModelKind.REWARD)
    return spec


def score_request(
    runtime: Runtime, spec: RewardSpec | None, inputs: list[RewardInput], field: str
) -> ScoreRequest:
    """The inputs checked: texts within RLHF_MAX_TEXT_BYTES, a reference wherever the reward needs one."""
    limit = runtime.settings.max_text_bytes
    for number, item in enumerate(inputs):
        check_text_size(item.prompt, f"{field}[{number}].prompt", limit)
        check_text_size(item.response, f"{field}[{number}].response", limit)
        if item.reference is not None:
            check_text_size(item.reference, f"{field}[{number}].reference", limit)
        elif spec is not None and spec.needs_reference:
            functions = ", ".join(
                str(c.function) for c in spec.components if c.function and c.function.needs_reference
            )
            raise ValidationError(
                f"{field}[{number}] has no reference; the reward {spec.label} needs one ({functions})"
            )
    return ScoreRequest(inputs, spec)
