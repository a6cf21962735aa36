"""Dataset statistics: counts, per-annotator work, votes per comparison, inter-annotator agreement, and
head-to-head win rates of policy versions.

Agreement is computed over comparisons with at least two non-skip votes, on the nominal categories a, b
and tie ("both bad" counts as a tie), of people's votes unless asked for AI judges' (`source`). Gold items (services/domain/gold.py) stay out of the counts, the
histogram and agreement; docs/quality.md covers them per annotator. Every query aggregates in PostgreSQL; Python only folds small tallies.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.core.enums import Choice, SourceFilter
from services.domain import datasets
from services.domain.ai_agreement import ai_agreement
from services.domain.ai_preferences import source_filter
from services.domain.intervals import wilson
from services.domain.vote_tally import comparison_tallies

CATEGORIES = (Choice.A, Choice.B, Choice.TIE)  # what agreement is measured over; a skip is no vote


@dataclass(frozen=True)
class Agreement:
    comparisons: int  # units: comparisons with >= 2 non-skip votes
    pairs: int  # pairs of votes on the same comparison
    percent_agreement: float | None  # agreeing pairs / pairs, pooled over all comparisons
    krippendorff_alpha: float | None  # nominal; None when undefined (fewer than two categories used)


@dataclass(frozen=True)
class WinRate:
    """Policy version `version_a` against `version_b`, one human vote per trial; ties count half."""

    version_a: int
    version_b: int
    wins_a: int
    wins_b: int
    ties: int
    win_rate_a: float
    ci95_low: float
    ci95_high: float
    interval: str = "wilson"


def agreement_from_tallies(tallies: Sequence[tuple[tuple[int, ...], int]]) -> Agreement:
    """Agreement from (per-category vote counts of a comparison, number of comparisons with those counts).

    Krippendorff's alpha (nominal) via the coincidence matrix: each comparison with m values adds
    n_c * n_k / (m - 1) to o[c][k] for c != k (and n_c (n_c - 1) / (m - 1) to o[c][c]);
    alpha = 1 - (n - 1) * sum_{c != k} o[c][k] / sum_{c != k} n_c n_k, with n_c the row sums of o
    (Krippendorff, "Computing Krippendorff's Alpha-Reliability", 2011).
    """
    size = len(CATEGORIES)
    coincidence = [[0.0] * size for _ in range(size)]
    units = pairs = agreeing = 0
    for counts, multiplicity in tallies:
        m = sum(counts)
        if m < 2:
            continue
        units += multiplicity
        pairs += multiplicity * m * (m - 1) // 2
        agreeing += multiplicity * sum(n * (n - 1) // 2 for n in counts)
        for c in range(size):
            for k in range(size):
                same = counts[c] * (counts[k] - (1 if c == k else 0))
                coincidence[c][k] += multiplicity * same / (m - 1)
    totals = [sum(row) for row in coincidence]
    n = sum(totals)
    observed = sum(coincidence[c][k] for c in range(size) for k in range(size) if c != k)
    expected = sum(totals[c] * totals[k] for c in range(size) for k in range(size) if c != k)
    alpha = 1 - (n - 1) * observed / expected if expected > 0 else None
    return Agreement(
        comparisons=units,
        pairs=pairs,
        percent_agreement=agreeing / pairs if pairs else None,
        krippendorff_alpha=alpha,
    )


_COUNTS = text(
    """
    SELECT count(*) FILTER (WHERE v.choice = 'a') AS a,
           count(*) FILTER (WHERE v.choice = 'b') AS b,
           count(*) FILTER (WHERE v.choice = 'tie' AND NOT v.both_bad) AS tie,
           count(*) FILTER (WHERE v.both_bad) AS both_bad,
           count(*) FILTER (WHERE v.choice = 'skip') AS skip
    FROM preference v JOIN comparison c ON c.id = v.comparison_id
    WHERE c.dataset_id = :dataset_id AND c.gold IS NULL AND v.source = ANY(:sources)
    """
)
_PER_ANNOTATOR = text(
    """
    SELECT v.annotator_id, a.name,
           count(*) FILTER (WHERE v.choice <> 'skip') AS votes,
           count(*) FILTER (WHERE v.choice = 'skip') AS skips,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY v.time_spent_ms) AS median_time_spent_ms
    FROM preference v JOIN comparison c ON c.id = v.comparison_id JOIN annotator a ON a.id = v.annotator_id
    WHERE c.dataset_id = :dataset_id AND v.source = ANY(:sources)
    GROUP BY v.annotator_id, a.name
    ORDER BY v.annotator_id
    """
)
_HISTOGRAM = text(
    "SELECT vote_count, count(*) FROM comparison WHERE dataset_id = :dataset_id AND gold IS NULL "
    "GROUP BY 1 ORDER BY 1"
)
_TALLIES = text(
    f"""
    SELECT a, b, t, count(*) FROM ({comparison_tallies("v.source = ANY(:sources)")} HAVING count(*) >= 2)
        per_comparison
    GROUP BY a, b, t
    """
)
# Votes per (version on A, version on B, choice) over the comparisons of new-vs-old pairs; {where} picks them.
_HEAD_TO_HEAD_SQL = """
    SELECT c.source_a_version_id, c.source_b_version_id, v.choice, count(*)
    FROM preference v JOIN comparison c ON c.id = v.comparison_id
    WHERE {where} v.choice <> 'skip'
      AND c.source_a_version_id IS NOT NULL AND c.source_b_version_id IS NOT NULL
      AND c.source_a_version_id <> c.source_b_version_id
    GROUP BY 1, 2, 3
"""
_HEAD_TO_HEAD = text(
    _HEAD_TO_HEAD_SQL.format(where="c.dataset_id = :dataset_id AND v.source = ANY(:sources) AND")
)
# Across datasets, people's votes only (AI judges' preferences stand outside: services/domain/ai_preferences.py).
_ALL_HEAD_TO_HEAD = text(_HEAD_TO_HEAD_SQL.format(where="v.source = 'human' AND"))


def win_rates(rows: list[tuple[int, int, str, int]]) -> list[WinRate]:
    """Fold (version on A, version on B, choice, votes) into one head-to-head record per version pair."""
    tally: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0])  # wins first, wins second, ties
    for version_on_a, version_on_b, choice, votes in rows:
        first, second = sorted((version_on_a, version_on_b))
        if choice == Choice.TIE:
            tally[first, second][2] += votes
        else:
            winner = version_on_a if choice == Choice.A else version_on_b
            tally[first, second][0 if winner == first else 1] += votes
    results = []
    for (first, second), (wins_first, wins_second, ties) in sorted(tally.items()):
        trials = wins_first + wins_second + ties
        score = wins_first + ties / 2
        low, high = wilson(score, trials) or [0.0, 1.0]
        results.append(WinRate(first, second, wins_first, wins_second, ties, score / trials, low, high))
    return results


def dataset_stats(session: Session, dataset_id: int, *, source: str = SourceFilter.HUMAN) -> dict[str, Any]:
    """The queue's counts (comparisons, complete, votes, skips, votes per comparison: people's, as `next` sees
    them); choices, annotators, agreement and win rates over the votes of `source`; and each AI judge's
    agreement with people (services/domain/ai_agreement.py)."""
    chosen = source_filter(source)
    progress = datasets.with_progress(session, dataset_id).progress
    params = {"dataset_id": dataset_id, "sources": [str(value) for value in chosen.sources]}
    choices = session.execute(_COUNTS, params).one()._asdict()
    tallies = [((a, b, t), n) for a, b, t, n in session.execute(_TALLIES, params)]
    return {
        "dataset_id": dataset_id,
        "comparisons": progress.comparisons,
        "complete": progress.complete,
        "votes": progress.votes,
        "skips": progress.skips,
        "choices": choices,
        "annotators": [row._asdict() for row in session.execute(_PER_ANNOTATOR, params)],
        "votes_per_comparison": {str(votes): n for votes, n in session.execute(_HISTOGRAM, params)},
        "agreement": agreement_from_tallies(tallies),
        "win_rates": win_rates([tuple(row) for row in session.execute(_HEAD_TO_HEAD, params)]),
        "source": chosen,
        "ai_agreement": ai_agreement(session, dataset_id),
    }


def all_win_rates(session: Session, *, version_id: int | None = None) -> list[WinRate]:
    """Head-to-head win rates from the judged new-vs-old comparisons of every dataset together; only the pairs
    that involve `version_id` when given."""
    rows = [(a, b, choice, n) for a, b, choice, n in session.execute(_ALL_HEAD_TO_HEAD)]
    found = win_rates(rows)
    if version_id is None:
        return found
    return [rate for rate in found if version_id in (rate.version_a, rate.version_b)]
