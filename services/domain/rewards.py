"""Named rewards: versions of weighted combinations of reward-model versions and reward functions.

The shape of a component (weights finite, a function's options, whitening statistics) is checked at the API
boundary (services/collector/reward_schemas.py); this module checks what needs the database (each model
component is an existing *reward* version), numbers the versions, and says which reward serves by default.

`default` is whichever came last: the promotion of a reward-model version (`POST /api/v1/models/{id}/promote`,
which makes that version the default, served with hot reload as before), or the creation of a version of the
reward named `default`. How the scorers combine the components: services/modeling/combined_reward.py.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from services.core.db import fetch_all
from services.core.enums import ModelKind
from services.core.errors import InvalidInputError, NotFoundError
from services.core.orm import ModelVersion, Reward

DEFAULT = "default"
# A reward's name: what requests and job params name it by (letters, digits, `_`, `.`, `-`).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
NAME_MAX_LENGTH = 100


def create(
    session: Session, name: str, components: list[dict[str, Any]], safety_gate: dict[str, Any] | None
) -> Reward:
    """A new version of `name` (1 for a new name); nothing is written when a component is refused."""
    for number, component in enumerate(components):
        version_id = component.get("model_version_id")
        if version_id is None:
            continue
        version = session.get(ModelVersion, version_id)
        if version is None:
            raise InvalidInputError(f"components[{number}]: model version {version_id} does not exist")
        if version.kind != ModelKind.REWARD:
            raise InvalidInputError(
                f"components[{number}]: model version {version.name} is a {version.kind} model, not a reward model"
            )
    # Two creations of one name at once would pick the same number: take turns instead.
    session.execute(
        text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(f"reward:{name}".encode())}
    )
    latest = session.scalar(select(func.max(Reward.version)).where(Reward.name == name)) or 0
    reward = Reward(name=name, version=latest + 1, components=components, safety_gate=safety_gate)
    session.add(reward)
    session.commit()
    return reward


def list_rewards(session: Session, *, name: str | None = None) -> list[Reward]:
    """Every version, by name, newest version first."""
    query = select(Reward).order_by(Reward.name, Reward.version.desc())
    if name is not None:
        query = query.where(Reward.name == name)
    return list(session.scalars(query))


def latest(session: Session, name: str) -> Reward | None:
    return session.scalar(select(Reward).where(Reward.name == name).order_by(Reward.version.desc()).limit(1))


@dataclass(frozen=True)
class Resolved:
    """What serves a reward name: a stored version, or (for `default`) the promoted reward model."""

    reward: Reward | None
    promoted: ModelVersion | None

    @property
    def label(self) -> str | None:
        if self.reward is not None:
            return f"{self.reward.name}@v{self.reward.version}"
        return self.promoted.name if self.promoted is not None else None


def resolve(session: Session, name: str | None) -> Resolved:
    """The reward that serves `name` (None: `default`); an unknown name is NotFoundError."""
    name = name or DEFAULT
    reward = latest(session, name)
    if name != DEFAULT:
        if reward is None:
            raise NotFoundError(f"no reward named {name!r}")
        return Resolved(reward, None)
    # model_versions.promoted's query, not a call: that module imports jobs, which imports this one.
    promoted = session.scalar(
        select(ModelVersion).where(ModelVersion.kind == ModelKind.REWARD, ModelVersion.promoted)
    )
    if reward is not None and _named_default_serves(
        reward.created_at, promoted is not None, promoted.promoted_at if promoted is not None else None
    ):
        return Resolved(reward, None)
    return Resolved(None, promoted)


def _named_default_serves(created_at: datetime, promoted: bool, promoted_at: datetime | None) -> bool:
    """Whether the newest reward named default (created at `created_at`) serves rather than the promoted
    reward model: whichever came last."""
    return not promoted or promoted_at is None or promoted_at <= created_at


@dataclass(frozen=True)
class StoredReward:
    name: str
    version: int
    components: list[dict[str, Any]]
    safety_gate: dict[str, Any] | None


_SERVING = f"""
    SELECT r.name, r.version, r.components, r.safety_gate, r.created_at, promoted.at AS promoted_at,
           promoted.id IS NOT NULL AS promoted
    FROM (SELECT 1) one
    LEFT JOIN LATERAL (
        SELECT name, version, components, safety_gate, created_at FROM reward
        WHERE name = %(name)s ORDER BY version DESC LIMIT 1
    ) r ON true
    LEFT JOIN LATERAL (
        SELECT id, promoted_at AS at FROM model_version WHERE kind = '{ModelKind.REWARD}' AND promoted
    ) promoted ON true
"""


async def serving(connection: psycopg.AsyncConnection[Any], name: str | None) -> StoredReward | None:
    """`resolve`'s rule in one statement on the async driver (the inference service's hot path, on its event
    loop): the stored version that serves `name`; None when the promoted reward model serves `default`."""
    name = name or DEFAULT
    row = (await fetch_all(connection, _SERVING, {"name": name}))[0]
    if row["name"] is None:
        if name != DEFAULT:
            raise NotFoundError(f"no reward named {name!r}")
        return None
    if name == DEFAULT and not _named_default_serves(row["created_at"], row["promoted"], row["promoted_at"]):
        return None
    return StoredReward(row["name"], row["version"], row["components"], row["safety_gate"])
