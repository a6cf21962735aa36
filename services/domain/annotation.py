"""The annotation queue: leasing comparisons to annotators (`next`). Votes are services/domain/votes.py.

Invariant: a comparison is handed out only while its slot-filling votes plus the live leases of other
annotators stay below the dataset's `annotations_per_comparison` (k), and never to an annotator who has
judged it already. Every writer of a comparison's leases or votes first locks the comparison row, then
reads the counts in a new statement: under READ COMMITTED a statement's snapshot can predate a lease that
another transaction committed while this one waited, so counts read before the lock are only a hint.
An annotator works only on the datasets assigned to them (their Identity carries them, from the token lookup),
and holds one comparison at most RLHF_LEASE_MAX_SECONDS however often `next` renews the lease.

Gold items (a comparison with a known answer, `comparison.gold`) stand outside k: with the dataset's
`gold_rate` as the chance, `next` first offers one this annotator has not answered; they never complete. An
annotator paused on the dataset (services/domain/gold.py) is refused.

The order of the open comparisons is the dataset's `sampling`: `sequential` (id order), `random` (the order
of a random key each comparison gets when stored), or `uncertainty` (smallest reward margin first, as the
worker scored them: services/domain/scores.py; unscored ones after, in id order).

Hand-written SQL sent straight through the driver (psycopg's async connection, on the collector's event
loop), in the request's transaction: `next` and a vote run hundreds of times a second, so each is two
statements plus the commit.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from services.core.db import fetch_all
from services.core.enums import DatasetKind, Sampling
from services.core.errors import ConflictError, ForbiddenError, NotFoundError
from services.core.settings import get_settings
from services.domain.annotators import Identity
from services.domain.prompts import PromptValue

# How many open comparisons at the front of the queue one statement looks at; the next window is read only
# when all of them are taken, locked or already judged by this annotator.
WINDOW = 64


@dataclass(frozen=True)
class Assignment:
    comparison_id: int
    prompt: PromptValue  # a text, or a conversation: a list of {"role", "content"} messages
    response_a: str
    response_b: str
    lease_expires_at: datetime


LIVE_LEASES_OF_OTHERS = """(SELECT count(*) FROM lease l
      WHERE l.comparison_id = c.id AND l.annotator_id <> %(annotator_id)s
        AND l.expires_at > statement_timestamp())"""


@dataclass(frozen=True)
class _Order:
    """How one sampling mode walks the open comparisons: by `column` then id (a partial index of the same
    columns serves it), or by id alone; a window starts after the cursor (`after_key`, `after_id`)."""

    column: str | None

    @property
    def key(self) -> str:
        return f"{self.column}, id" if self.column else "id"

    @property
    def after(self) -> str:
        if self.column is None:
            return "id > %(after_id)s"
        return f"({self.column}, id) > (%(after_key)s, %(after_id)s)"


_ORDERS = {
    Sampling.SEQUENTIAL: _Order(None),
    Sampling.RANDOM: _Order("sample_key"),
    # Smallest reward margin first; unscored comparisons (margin infinity) follow in id order.
    Sampling.UNCERTAINTY: _Order("reward_margin"),
}


def _front(order: _Order, start: str) -> str:
    """A window of the open, ordinary (not gold) comparisons, from the partial index in `order`'s order."""
    return f"""
        SELECT id FROM comparison
        WHERE dataset_id = %(dataset_id)s AND NOT is_complete AND gold IS NULL AND {start}
        ORDER BY {order.key} LIMIT {WINDOW}"""


# The first comparison of a window that has a free slot and that this annotator has not judged; rows other
# transactions hold are skipped. Reading a bounded window first keeps the plan an ordered index walk even
# before the table has statistics, and the cost flat however much work is complete. OFFSET 0 keeps NOT
# EXISTS a per-row probe rather than an anti-join over all of the annotator's votes.
def _pick(order: _Order, *, gate: str = "", k: str = "%(k)s", start: str | None = None) -> str:
    c_key = f"c.{order.column}, c.id" if order.column else "c.id"
    sort_key = f"c.{order.column}" if order.column else "NULL::float8"
    return f"""
        SELECT c.id, {sort_key} AS sort_key
        FROM ({_front(order, start or order.after)}) front JOIN comparison c ON c.id = front.id
        WHERE {gate} NOT c.is_complete
          AND c.vote_count + {LIVE_LEASES_OF_OTHERS} < {k}
          AND NOT EXISTS (SELECT 1 FROM preference p
                          WHERE p.comparison_id = c.id AND p.annotator_id = %(annotator_id)s OFFSET 0)
        ORDER BY {c_key} LIMIT 1
        FOR UPDATE OF c SKIP LOCKED"""


def _window_end(order: _Order) -> str:
    """The last comparison of the current window (the next window starts after it)."""
    if order.column is None:
        return f"SELECT max(id) AS id, NULL::float8 AS sort_key FROM ({_front(order, order.after)}) front"
    return f"""
        SELECT c.id, c.{order.column} AS sort_key
        FROM ({_front(order, order.after)}) front JOIN comparison c ON c.id = front.id
        ORDER BY c.{order.column} DESC, c.id DESC LIMIT 1"""


_PICK = {sampling: _pick(order) for sampling, order in _ORDERS.items()}
_WINDOW_END = {sampling: _window_end(order) for sampling, order in _ORDERS.items()}

# What `next` may hand out at all: the annotator is not paused on the dataset and holds no live lease.
_FREE = "pause.reason IS NULL AND held.comparison_id IS NULL AND"

# First statement of `next`: k, the sampling mode, why this annotator is paused (if they are), the comparison
# they already hold a live lease on (reload keeps progress), else a candidate: the first free comparison of
# the first window in the dataset's order, and, with the dataset's gold rate as the chance (%(gold_draw)s), a
# gold item, served only when there is ordinary work too (served alone, it would stand out). Each lateral's
# gate reads only columns of earlier ones, so PostgreSQL evaluates it once (a one-time filter) and the
# searches not needed never run. Leases are soft state: this transaction commits without waiting for the WAL
# flush (a crash can only return leased work to the pool early); votes do.
_K = "d.annotations_per_comparison"
_SEQUENTIAL = _pick(
    _ORDERS[Sampling.SEQUENTIAL], gate=f"{_FREE} d.sampling = 'sequential' AND", k=_K, start="true"
)
_RANDOM = _pick(_ORDERS[Sampling.RANDOM], gate=f"{_FREE} d.sampling = 'random' AND", k=_K, start="true")
_UNCERTAIN = _pick(
    _ORDERS[Sampling.UNCERTAINTY], gate=f"{_FREE} d.sampling = 'uncertainty' AND", k=_K, start="true"
)
_START = f"""
    SELECT set_config('synchronous_commit', 'off', true) AS async_commit,
           d.annotations_per_comparison AS k, d.kind, d.sampling, pause.reason AS paused,
           held.comparison_id AS held, gold.id AS gold,
           coalesce(sequential.id, shuffled.id, uncertain.id) AS candidate,
           coalesce(shuffled.sort_key, uncertain.sort_key) AS candidate_key
    FROM dataset d
    LEFT JOIN annotator_pause pause
           ON pause.annotator_id = %(annotator_id)s AND pause.dataset_id = d.id AND pause.paused_at IS NOT NULL
    LEFT JOIN LATERAL (
        SELECT l.comparison_id FROM lease l
        WHERE pause.reason IS NULL
          AND l.annotator_id = %(annotator_id)s AND l.expires_at > statement_timestamp()
          -- A per-lease probe (OFFSET 0 keeps it one): the planner must not walk the open comparisons.
          AND EXISTS (SELECT 1 FROM comparison c
                      WHERE c.id = l.comparison_id AND c.dataset_id = d.id AND NOT c.is_complete OFFSET 0)
        ORDER BY l.comparison_id LIMIT 1
    ) held ON true
    LEFT JOIN LATERAL (
        SELECT c.id FROM comparison c
        WHERE {_FREE} %(gold_draw)s < d.gold_rate
          AND c.dataset_id = d.id AND c.gold IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM preference p
                          WHERE p.comparison_id = c.id AND p.annotator_id = %(annotator_id)s OFFSET 0)
        ORDER BY c.id LIMIT 1
    ) gold ON true
    LEFT JOIN LATERAL ({_SEQUENTIAL}) sequential ON true
    LEFT JOIN LATERAL ({_RANDOM}) shuffled ON true
    LEFT JOIN LATERAL ({_UNCERTAIN}) uncertain ON true
    WHERE d.id = %(dataset_id)s
"""

_ASSIGNMENT = """
    SELECT x.comparison_id, coalesce(p.messages, to_jsonb(p.text)) AS prompt, c.response_a, c.response_b, x.expires_at AS lease_expires_at
    FROM {source} x JOIN comparison c ON c.id = x.comparison_id JOIN prompt p ON p.id = c.prompt_id
"""

# A lease of this annotator that ran to the cap (its hold began lease_max_seconds before it ended) and ended
# less than lease_seconds ago: while it cools down, the comparison is not leased to them again, so that others
# get it first. It stays stored (unlike other expired leases) until then.
_COOLING = """expires_at <= statement_timestamp()
          AND expires_at >= created_at + make_interval(secs => %(lease_max_seconds)s)
          AND expires_at > statement_timestamp() - make_interval(secs => %(lease_seconds)s)"""

# Under the candidate's lock (a gold item needs none: it has no slots), in a fresh snapshot: re-check its
# counts, grant the lease (a new hold: it starts now), drop this annotator's expired leases (they count for
# nothing, so they need no lock), and answer the comparison.
_GRANT = f"""
    WITH expired AS (
        DELETE FROM lease
        WHERE annotator_id = %(annotator_id)s AND comparison_id <> %(comparison_id)s
          AND expires_at <= statement_timestamp() AND NOT ({_COOLING})
    ), granted AS (
        INSERT INTO lease (comparison_id, annotator_id, expires_at)
        SELECT c.id, %(annotator_id)s, statement_timestamp() + make_interval(secs => %(grant_seconds)s)
        FROM comparison c
        WHERE c.id = %(comparison_id)s
          AND (c.gold IS NOT NULL OR c.vote_count + {LIVE_LEASES_OF_OTHERS} < %(k)s)
          AND NOT EXISTS (SELECT 1 FROM preference
                          WHERE comparison_id = %(comparison_id)s AND annotator_id = %(annotator_id)s)
          AND NOT EXISTS (SELECT 1 FROM lease
                          WHERE comparison_id = %(comparison_id)s AND annotator_id = %(annotator_id)s
                            AND {_COOLING})
        ON CONFLICT (comparison_id, annotator_id)
            DO UPDATE SET expires_at = EXCLUDED.expires_at, created_at = statement_timestamp()
        RETURNING comparison_id, expires_at
    )
    {_ASSIGNMENT.format(source="granted")}
"""

# Reload: extend the live lease this annotator holds, under the comparison's lock, but never past the cap on
# one hold (created_at + lease_max_seconds): each `next` renewing it must not keep it from others forever.
_REFRESH = f"""
    WITH locked AS (
        SELECT id FROM comparison WHERE id = %(comparison_id)s FOR UPDATE
    ), refreshed AS (
        UPDATE lease SET expires_at = least(
            statement_timestamp() + make_interval(secs => %(lease_seconds)s),
            lease.created_at + make_interval(secs => %(lease_max_seconds)s))
        FROM locked
        WHERE lease.comparison_id = locked.id AND lease.annotator_id = %(annotator_id)s
          AND lease.expires_at > statement_timestamp()
        RETURNING lease.comparison_id, lease.expires_at
    )
    {_ASSIGNMENT.format(source="refreshed")}
"""


async def next_comparison(
    connection: psycopg.AsyncConnection[Any], annotator: Identity, dataset_id: int
) -> Assignment | None:
    """Lease the annotator a comparison of the dataset (the one they hold, if any); None when none is free."""
    annotator.check_dataset(dataset_id)
    settings = get_settings()
    params: dict[str, Any] = {
        "annotator_id": annotator.id,
        "dataset_id": dataset_id,
        "after_id": 0,
        "after_key": -1.0,
        "gold_draw": random.random(),
        "lease_seconds": settings.lease_seconds,
        "lease_max_seconds": settings.resolved_lease_max_seconds,
        "grant_seconds": min(settings.lease_seconds, settings.resolved_lease_max_seconds),
    }
    rows = await fetch_all(connection, _START, params)
    if not rows:
        await connection.rollback()
        raise NotFoundError(f"dataset {dataset_id} not found")
    start = rows[0]
    if start["kind"] != DatasetKind.PREFERENCE:
        await connection.rollback()
        raise ConflictError(
            f"dataset {dataset_id} is a {start['kind']} dataset: only preference datasets have comparisons to judge"
        )
    if start["paused"] is not None:
        await connection.rollback()
        raise ForbiddenError(start["paused"])
    params["k"] = start["k"]
    sampling = Sampling(start["sampling"])
    candidate: dict[str, Any] | None = (
        {"id": start["candidate"], "sort_key": start["candidate_key"]} if start["candidate"] else None
    )
    if start["held"] is not None:
        refreshed = await fetch_all(connection, _REFRESH, params | {"comparison_id": start["held"]})
        if refreshed:
            await connection.commit()
            return Assignment(**refreshed[0])
        # The held lease lapsed (or was voted on) meanwhile; the first statement did not search: do it now.
        candidate = await _first(connection, _PICK[sampling], params)
    elif start["gold"] is not None and candidate is not None:
        granted = await fetch_all(connection, _GRANT, params | {"comparison_id": start["gold"]})
        if granted:
            await connection.commit()
            return Assignment(**granted[0])
        # Its lease to this annotator is cooling down: the ordinary candidate instead.
    while True:
        if candidate is not None:
            granted = await fetch_all(connection, _GRANT, params | {"comparison_id": candidate["id"]})
            if granted:
                await connection.commit()
                return Assignment(**granted[0])
            # Its slots filled between the search's snapshot and the lock: look past it.
            last = candidate
        else:
            # Nothing free in this window: move to the next one, if any.
            last = await _first(connection, _WINDOW_END[sampling], params)
            if last is None or last["id"] is None:
                await connection.commit()
                return None
        params["after_id"], params["after_key"] = last["id"], last["sort_key"]
        candidate = await _first(connection, _PICK[sampling], params)


async def _first(connection: psycopg.AsyncConnection[Any], sql: str, params: dict[str, Any]) -> Any:
    rows = await fetch_all(connection, sql, params)
    return rows[0] if rows else None
