"""metrics.warnings' sentences (training_jobs/metric_warnings.py); the jobs that write them are tested end to
end in test_reward_model.py and test_ppo.py."""

from __future__ import annotations

from training_jobs.metric_warnings import no_gain, small_data, small_eval


def test_a_small_held_out_set_is_named_with_its_interval_and_50_pairs_are_enough():
    assert small_eval(50, "eval_accuracy", 0.9, [0.79, 0.96]) == []
    (warning,) = small_eval(2, "eval_accuracy", 1.0, [0.34, 1.0])
    assert "only 2 held-out pairs" in warning and "[0.34, 1.00]" in warning
    assert "not measured" in small_eval(0, "eval_accuracy", None, None)[0]


def test_data_smaller_than_a_batch_is_named():
    assert small_data(16, 16, "pairs") == []
    assert "only 10 training pairs for a batch of 16" in small_data(10, 16, "pairs")[0]


def test_a_gain_whose_interval_reaches_zero_is_not_an_improvement():
    assert no_gain(1.2, [0.6, 1.8]) == []
    assert "did not improve: +0.30 σ" in no_gain(0.3, [-0.1, 0.7])[0]
    assert "did not improve: -0.50 σ" in no_gain(-0.5, [-0.9, -0.1])[0]
    assert "could not be measured" in no_gain(None, None)[0]
