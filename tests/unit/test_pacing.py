"""Answers that did less work last as long as those that did the full work."""

from __future__ import annotations

import random
import time

import pytest

from service.web.pacing import FIRST_GUESS_SECONDS, Pacer


def _pacer() -> tuple[Pacer, list[float]]:
    waits: list[float] = []
    return Pacer(sleep=waits.append, rng=random.Random(7)), waits


def test_a_short_answer_waits_until_it_has_taken_as_long_as_a_full_one() -> None:
    pacer, waits = _pacer()
    pacer.full(time.perf_counter() - 0.020)
    pacer.short(time.perf_counter() - 0.005)
    assert waits == [pytest.approx(0.015, abs=0.002)]


def test_a_full_answer_never_waits_and_a_slow_short_one_does_not_either() -> None:
    pacer, waits = _pacer()
    pacer.finish(time.perf_counter() - 0.020, did_the_work=True)
    pacer.finish(time.perf_counter() - 0.050, did_the_work=False)
    assert waits == []


def test_short_answers_take_the_spread_of_the_full_ones() -> None:
    pacer, waits = _pacer()
    for took in (0.010, 0.020, 0.030):
        pacer.full(time.perf_counter() - took)
    for _ in range(60):
        pacer.short(time.perf_counter())
    assert {round(w, 2) for w in waits} == {0.01, 0.02, 0.03}


def test_before_any_full_answer_a_short_one_lasts_the_first_guess() -> None:
    pacer, waits = _pacer()
    pacer.short(time.perf_counter())
    assert waits == [pytest.approx(FIRST_GUESS_SECONDS, abs=0.002)]
