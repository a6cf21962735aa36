"""AI preferences: the verdicts of a judge model (ai_feedback jobs, training_jobs/ai_feedback.py) stored in the
same table as people's votes, with `source = 'ai'` and an annotator of role `ai` named after the judge.

They stand outside the human queue: they are written here, never through services/domain/votes.py, so they
fill no slot of `annotations_per_comparison` (comparison.vote_count counts people only), hold no lease, answer
no gold item and count in no trust figure (services/domain/quality.py reads role `annotator` and source
`human`); people see every comparison as if the judge had not been there. Exports, stats and training jobs
read people's preferences unless asked for `source=ai|all`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.core.enums import JUDGEMENTS, ModelKind, PreferenceSource, SourceFilter
from services.core.errors import InvalidInputError
from services.core.orm import ModelVersion
from services.domain.prompts import PromptValue, stored


def source_filter(value: str) -> SourceFilter:
    """`source=` as exports, stats and jobs take it, checked."""
    if value not in list(SourceFilter):
        raise InvalidInputError(f"source must be one of {', '.join(SourceFilter)}, got {value!r}")
    return SourceFilter(value)


@dataclass(frozen=True)
class PairToJudge:
    comparison_id: int
    prompt: PromptValue
    response_a: str
    response_b: str


@dataclass(frozen=True)
class AiVerdict:
    comparison_id: int
    choice: str  # a, b or tie
    rationale: str
    metadata: dict[str, Any]  # the job id, the judge, its raw answers in both orders


_ANNOTATOR = text(
    """
    INSERT INTO annotator (name, role) VALUES (:name, 'ai')
    ON CONFLICT (name) WHERE role = 'ai' DO UPDATE SET name = EXCLUDED.name
    RETURNING id
    """
)


def ai_annotator(session: Session, name: str) -> int:
    """The id of the AI judge named `name` (role ai, no token: it cannot sign in), created on first use."""
    annotator_id: int = session.execute(_ANNOTATOR, {"name": name}).scalar_one()
    session.commit()
    return annotator_id


def check_judge_version(session: Session, judge: Any) -> None:
    """A worker-run judge named by version (`params.judge.model_version_id`) is a policy version: it must
    answer A or B, which a reward model cannot."""
    if not isinstance(judge, dict) or judge.get("model_version_id") is None:
        return
    version = session.get(ModelVersion, judge["model_version_id"])
    if version is None or version.kind != ModelKind.POLICY:
        what = "does not exist" if version is None else f"is a {version.kind} model, not a policy model"
        raise InvalidInputError(
            f"params.judge.model_version_id: model version {judge['model_version_id']} {what}"
        )


_TO_JUDGE = text(
    """
    SELECT c.id, p.text, p.messages, c.response_a, c.response_b
    FROM comparison c JOIN prompt p ON p.id = c.prompt_id
    WHERE c.dataset_id = :dataset_id AND c.gold IS NULL AND c.id > :after
      AND (CAST(:max_id AS bigint) IS NULL OR c.id <= :max_id)
      AND NOT EXISTS (SELECT 1 FROM preference v WHERE v.comparison_id = c.id AND v.annotator_id = :annotator_id)
    ORDER BY c.id LIMIT :limit
    """
)


def to_judge(
    session: Session, dataset_id: int, annotator_id: int, *, after: int, limit: int, max_id: int | None
) -> list[PairToJudge]:
    """The dataset's ordinary comparisons (gold items are people's checks) this judge has not judged, in id
    order after `after`, up to `max_id` (the job's snapshot)."""
    rows = session.execute(
        _TO_JUDGE,
        {
            "dataset_id": dataset_id,
            "annotator_id": annotator_id,
            "after": after,
            "limit": limit,
            "max_id": max_id,
        },
    )
    return [
        PairToJudge(row.id, stored(row.text, row.messages), row.response_a, row.response_b) for row in rows
    ]


_COUNT_TO_JUDGE = text(
    """
    SELECT count(*) FROM comparison c
    WHERE c.dataset_id = :dataset_id AND c.gold IS NULL AND (CAST(:max_id AS bigint) IS NULL OR c.id <= :max_id)
      AND NOT EXISTS (SELECT 1 FROM preference v WHERE v.comparison_id = c.id AND v.annotator_id = :annotator_id)
    """
)


def count_to_judge(session: Session, dataset_id: int, annotator_id: int, *, max_id: int | None) -> int:
    params = {"dataset_id": dataset_id, "annotator_id": annotator_id, "max_id": max_id}
    return int(session.execute(_COUNT_TO_JUDGE, params).scalar_one())


_STORE = text(
    """
    INSERT INTO preference (comparison_id, annotator_id, choice, rationale, source, metadata)
    VALUES (:comparison_id, :annotator_id, :choice, :rationale, 'ai', CAST(:metadata AS jsonb))
    ON CONFLICT (comparison_id, annotator_id) DO NOTHING
    """
)


def store(session: Session, annotator_id: int, verdicts: Sequence[AiVerdict]) -> int:
    """Store a judge's verdicts in one transaction, each at most once per judge (a comparison it judged already,
    e.g. in a run that died after storing it, is left as it is); how many were new. No slot, lease or count of
    the human queue changes."""
    written = 0
    for verdict in verdicts:
        if verdict.choice not in list(JUDGEMENTS):
            raise InvalidInputError(f"an AI preference is a, b or tie, got {verdict.choice!r}")
        result = session.execute(
            _STORE,
            {
                "comparison_id": verdict.comparison_id,
                "annotator_id": annotator_id,
                "choice": verdict.choice,
                "rationale": verdict.rationale,
                "metadata": json.dumps(verdict.metadata),
            },
        )
        written += result.rowcount  # type: ignore[attr-defined]
    session.commit()
    return written


_BY_JOB = text(
    "SELECT count(*) FROM preference WHERE source = :source AND (metadata->>'job_id')::bigint = :job_id"
)


def written_by_job(session: Session, job_id: int) -> int:
    """How many AI preferences a job wrote (its id is in each one's metadata)."""
    return int(session.execute(_BY_JOB, {"source": PreferenceSource.AI.value, "job_id": job_id}).scalar_one())
