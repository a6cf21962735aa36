"""Each comparison's votes counted in SQL, for the statistics (stats.py), the annotators' quality figures
(quality.py) and AI judges' agreement with people (ai_agreement.py): one definition of what a tally counts and
of a tally's winner."""

from __future__ import annotations

# The strict plurality of a tally's columns a, b and t: the answer chosen more often than either other (NULL
# when there is none).
PLURALITY = (
    "CASE WHEN a > b AND a > t THEN 'a' WHEN b > a AND b > t THEN 'b' WHEN t > a AND t > b THEN 'tie' END"
)


def comparison_tallies(sources: str) -> str:
    """A query of (comparison_id, a, b, t): the a, b and tie votes (skips are no vote) on each ordinary comparison
    of the dataset :dataset_id (gold items stay out), from the sources the SQL condition `sources` on v.source
    admits. A query may add a HAVING clause."""
    return f"""
        SELECT v.comparison_id,
               count(*) FILTER (WHERE v.choice = 'a') AS a,
               count(*) FILTER (WHERE v.choice = 'b') AS b,
               count(*) FILTER (WHERE v.choice = 'tie') AS t
        FROM preference v JOIN comparison c ON c.id = v.comparison_id
        WHERE c.dataset_id = :dataset_id AND c.gold IS NULL AND v.choice <> 'skip' AND {sources}
        GROUP BY v.comparison_id
    """
