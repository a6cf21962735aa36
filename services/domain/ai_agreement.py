"""How often each AI judge (services/domain/ai_preferences.py) agrees with people, on the comparisons both
judged: the people's label of a comparison is the strict plurality of their a/b/tie votes (skips aside;
comparisons without one are left out), the judge's is its preference. Reported per judge: raw agreement
with Wilson's 95 % interval (services/domain/intervals.py) and Cohen's κ, agreement beyond what the two
label distributions give by chance.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.domain.intervals import wilson
from services.domain.vote_tally import PLURALITY, comparison_tallies


@dataclass(frozen=True)
class AiAgreement:
    annotator_id: int
    name: str  # ai:<model>
    comparisons: int  # judged by this judge and decided by people
    agreed: int
    agreement: float | None
    agreement_ci95: list[float] | None  # Wilson
    cohen_kappa: float | None  # None when undefined (both sides used one and the same label only)
    ai_ties: int  # the judge's ties (its two orders disagreed, or it said so)


def cohen_kappa(pairs: Iterable[tuple[tuple[str, str], int]]) -> float | None:
    """Cohen's κ (Cohen 1960) from ((rater 1's label, rater 2's label), count) pairs:
    κ = (p_o − p_e) / (1 − p_e), p_o the share of agreeing items, p_e = Σ_k p1(k) · p2(k) the agreement expected
    from each rater's own label shares. None when p_e = 1 (κ is undefined) or there are no items."""
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for (first, second), n in pairs:
        counts[first, second] += n
    total = sum(counts.values())
    if total == 0:
        return None
    first_share: dict[str, float] = defaultdict(float)
    second_share: dict[str, float] = defaultdict(float)
    for (first, second), n in counts.items():
        first_share[first] += n / total
        second_share[second] += n / total
    observed = sum(n for (first, second), n in counts.items() if first == second) / total
    expected = sum(share * second_share[label] for label, share in first_share.items())
    if expected >= 1.0:
        return None
    return (observed - expected) / (1.0 - expected)


_PAIRS = text(
    f"""
    WITH people AS ({comparison_tallies("v.source = 'human'")}
    ), label AS (
        SELECT comparison_id, {PLURALITY} AS human FROM people
    )
    SELECT an.id AS annotator_id, an.name, v.choice AS ai, l.human, count(*) AS n
    FROM preference v JOIN comparison c ON c.id = v.comparison_id
    JOIN annotator an ON an.id = v.annotator_id
    JOIN label l ON l.comparison_id = v.comparison_id
    WHERE c.dataset_id = :dataset_id AND v.source = 'ai' AND v.choice <> 'skip' AND l.human IS NOT NULL
    GROUP BY an.id, an.name, v.choice, l.human
    ORDER BY an.id
    """
)


def ai_agreement(session: Session, dataset_id: int) -> list[AiAgreement]:
    """Each AI judge of the dataset against the people's labels, on the comparisons both judged."""
    by_judge: dict[tuple[int, str], list[tuple[tuple[str, str], int]]] = defaultdict(list)
    for row in session.execute(_PAIRS, {"dataset_id": dataset_id}):
        by_judge[row.annotator_id, row.name].append(((row.ai, row.human), row.n))
    result = []
    for (annotator_id, name), pairs in by_judge.items():
        total = sum(n for _, n in pairs)
        agreed = sum(n for (ai, human), n in pairs if ai == human)
        result.append(
            AiAgreement(
                annotator_id=annotator_id,
                name=name,
                comparisons=total,
                agreed=agreed,
                agreement=agreed / total if total else None,
                agreement_ci95=wilson(agreed, total),
                cohen_kappa=cohen_kappa(pairs),
                ai_ties=sum(n for (ai, _), n in pairs if ai == "tie"),
            )
        )
    return result
