"""Grouping reward inputs into forward passes (services/modeling/scoring.py); the scores themselves are
checked through the training jobs and POST /reward, which both use it."""

from __future__ import annotations

from services.modeling.scoring import chunks_by_length


def test_chunks_by_length_bound_rows_and_padded_tokens() -> None:
    lengths = [5, 300, 7, 40, 600, 6, 41, 39]

    chunks = chunks_by_length(lengths, batch_size=3, max_tokens=200)

    assert sorted(i for chunk in chunks for i in chunk) == list(range(len(lengths)))
    assert chunks == [[0, 5, 2], [7, 3, 6], [1], [4]]  # shortest first; 300 and 600 alone (> 200)
    for chunk in chunks:
        width = max(lengths[i] for i in chunk)
        assert len(chunk) <= 3 and (len(chunk) == 1 or len(chunk) * width <= 200)


def test_chunks_by_length_without_a_token_bound_fill_batches_in_length_order() -> None:
    assert chunks_by_length([9, 1, 5, 3, 7], batch_size=2) == [[1, 3], [2, 4], [0]]
