"""Learning-rate schedules with linear warm-up, against the closed-form curves."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfapps.models.schedules import WarmupSchedule


def rates(schedule, steps):
    return np.array([float(schedule(step)) for step in steps])


def test_warmup_is_linear_up_to_the_peak():
    schedule = WarmupSchedule(peak=0.4, total_steps=100, warmup_steps=4, kind="constant")
    np.testing.assert_allclose(rates(schedule, range(6)), [0.1, 0.2, 0.3, 0.4, 0.4, 0.4], rtol=1e-6)


@pytest.mark.parametrize("kind", ["constant", "cosine", "step"])
def test_warmup_hands_over_to_the_peak(kind):
    schedule = WarmupSchedule(peak=1.0, total_steps=50, warmup_steps=10, kind=kind, step_size=5, gamma=0.5)
    warm = rates(schedule, range(10))
    np.testing.assert_allclose(np.diff(warm), 0.1, rtol=1e-5)  # equal increments
    assert float(schedule(9)) == pytest.approx(1.0)
    assert float(schedule(10)) == pytest.approx(1.0)  # no jump where warm-up ends


def test_constant_without_warmup():
    schedule = WarmupSchedule(peak=3e-3, total_steps=10, kind="constant")
    np.testing.assert_allclose(rates(schedule, [0, 5, 10, 1000]), 3e-3, rtol=1e-6)


def test_cosine_follows_half_a_cosine_and_ends_near_zero():
    peak, total, warmup = 0.2, 110, 10
    schedule = WarmupSchedule(peak=peak, total_steps=total, warmup_steps=warmup, kind="cosine")
    steps = np.arange(warmup, total + 1)
    expected = 0.5 * peak * (1 + np.cos(math.pi * (steps - warmup) / (total - warmup)))
    np.testing.assert_allclose(rates(schedule, steps), expected, rtol=1e-5, atol=1e-7)
    assert float(schedule(warmup + 50)) == pytest.approx(peak / 2, rel=1e-5)  # half-way: half the peak
    assert float(schedule(total - 1)) < 1e-3 * peak  # the last step of the run
    assert float(schedule(total)) == pytest.approx(0.0, abs=1e-9)
    assert float(schedule(total + 100)) == pytest.approx(0.0, abs=1e-9)  # stays at zero past the end
    assert (np.diff(rates(schedule, steps)) <= 1e-9).all()


def test_step_decay():
    schedule = WarmupSchedule(peak=1.0, total_steps=100, kind="step", step_size=10, gamma=0.5)
    steps = [0, 9, 10, 19, 20, 35, 99]
    np.testing.assert_allclose(rates(schedule, steps), [1, 1, 0.5, 0.5, 0.25, 0.125, 0.5**9], rtol=1e-6)


def test_step_decay_counts_from_the_end_of_warmup():
    schedule = WarmupSchedule(peak=0.1, total_steps=100, warmup_steps=5, kind="step", step_size=10, gamma=0.1)
    np.testing.assert_allclose(rates(schedule, [14, 15, 24, 25]), [0.1, 0.01, 0.01, 0.001], rtol=1e-5)


def test_accepts_integer_tensors_and_clamps_arguments():
    schedule = WarmupSchedule(peak=1.0, total_steps=0, warmup_steps=-3, kind="cosine", step_size=0)
    assert (schedule.total_steps, schedule.warmup_steps, schedule.step_size) == (1, 0, 1)
    assert float(schedule(tf.constant(0, tf.int64))) == pytest.approx(1.0)
    assert float(schedule(tf.constant(1, tf.int64))) == pytest.approx(0.0, abs=1e-9)


def test_serialisation_round_trip():
    schedule = WarmupSchedule(
        peak=0.05, total_steps=200, warmup_steps=20, kind="step", step_size=30, gamma=0.3
    )
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(clone, WarmupSchedule)
    assert clone.get_config() == schedule.get_config()
    steps = [0, 10, 19, 20, 49, 50, 199]
    np.testing.assert_allclose(rates(clone, steps), rates(schedule, steps), rtol=0)


def test_optimizer_round_trip_keeps_the_schedule():
    schedule = WarmupSchedule(peak=0.01, total_steps=40, warmup_steps=4, kind="cosine")
    optimizer = keras.optimizers.AdamW(learning_rate=schedule, weight_decay=1e-4)
    config = optimizer.get_config()
    assert config["learning_rate"]["registered_name"] == "tfapps>WarmupSchedule"
    restored = keras.optimizers.AdamW.from_config(config)
    for step in (0, 3, 24):
        optimizer.iterations.assign(step)
        restored.iterations.assign(step)
        expected = float(schedule(step))
        assert float(optimizer.learning_rate) == pytest.approx(expected)
        assert float(restored.learning_rate) == pytest.approx(expected)
