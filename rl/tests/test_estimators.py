"""Off-policy estimators, bootstrap intervals, PSI and ESS on cases with known answers."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from streamsafe_rl import evaluate, train


def test_psi() -> None:
    a = np.array([10.0, 20.0, 70.0])
    assert evaluate.psi(a, a) == pytest.approx(0.0)
    b = np.array([20.0, 20.0, 60.0])
    want = (0.1 - 0.2) * np.log(0.1 / 0.2) + (0.7 - 0.6) * np.log(0.7 / 0.6)
    assert evaluate.psi(a, b) == pytest.approx(want)
    assert evaluate.psi(a, b) == pytest.approx(evaluate.psi(b, a))


def test_ess() -> None:
    assert evaluate.ess(np.ones(50)) == pytest.approx(50)
    assert evaluate.ess(np.array([1.0, 0, 0, 0])) == pytest.approx(1)
    assert evaluate.ess(np.zeros(3)) == 0.0


def _bandit(n: int, seed: int) -> tuple[np.ndarray, ...]:
    """Two actions; the behaviour picks each with probability 1/2; reward(a=1) = 1, reward(a=0) = 0 + noise."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, n)
    pb = np.full(n, 0.5)
    r = a + rng.normal(0, 0.1, n)
    return a, pb, r


def test_dr_with_a_perfect_model_is_exact() -> None:
    a, pb, r = _bandit(2000, 0)
    q = np.tile([0.0, 1.0], (len(a), 1))
    final = np.ones(len(a), dtype=np.int64)
    # DR = mean(q(s, 1) + w (r - q(s, a))): the residual term averages the noise only.
    assert train.dr_value(final, a, pb, r, q) == pytest.approx(1.0, abs=0.01)
    assert train.dr_value(np.zeros(len(a), dtype=np.int64), a, pb, r, q) == pytest.approx(0.0, abs=0.01)


def _cols(a: np.ndarray, pb: np.ndarray, r: np.ndarray, final: np.ndarray, greedy: np.ndarray) -> np.ndarray:
    n = len(a)
    we, wb = (final == a) / pb, (greedy == a) / pb
    q = np.zeros((n, 2))
    z = np.zeros(n)
    rows = np.arange(n)
    return np.stack(
        [
            r,
            we,
            we * r,
            wb,
            wb * r,
            q[rows, final] + we * r,
            q[rows, greedy] + wb * r,
            z,
            z,
            z,
            z,
            np.ones(n),
            z,
            z,
            z,
            z,
            z,
            z,
            z,
        ],
        axis=1,
    )


def test_bootstrap_finds_a_real_improvement() -> None:
    a, pb, r = _bandit(4000, 1)
    n = len(a)
    res = evaluate.bootstrap(_cols(a, pb, r, np.ones(n, dtype=np.int64), np.zeros(n, dtype=np.int64)), 200, seed=3)
    est = res["estimates"]
    assert est["wis_policy"]["value"] == pytest.approx(1.0, abs=0.02)
    assert est["wis_baseline"]["value"] == pytest.approx(0.0, abs=0.02)
    wis = next(c for c in res["comparisons"] if c["metric"] == "wis")
    assert wis["improved"]
    assert wis["difference"]["lo"] > 0.9
    for e in est.values():
        if np.isfinite(e["lo"]):
            assert e["lo"] <= e["value"] <= e["hi"]


def test_bootstrap_does_not_invent_an_improvement() -> None:
    a, pb, r = _bandit(4000, 2)
    same = np.ones(len(a), dtype=np.int64)
    res = evaluate.bootstrap(_cols(a, pb, r, same, same), 200, seed=3)
    assert not any(c["improved"] for c in res["comparisons"])
    wis = next(c for c in res["comparisons"] if c["metric"] == "wis")
    assert wis["difference"] == {"value": 0.0, "lo": 0.0, "hi": 0.0}


def test_bootstrap_is_seeded() -> None:
    a, pb, r = _bandit(500, 4)
    c = _cols(a, pb, r, np.ones(len(a), dtype=np.int64), np.zeros(len(a), dtype=np.int64))
    # (json: NaN statistics, e.g. truth metrics without truth, compare equal as text)
    assert json.dumps(evaluate.bootstrap(c, 50, seed=9)) == json.dumps(evaluate.bootstrap(c, 50, seed=9))
    assert json.dumps(evaluate.bootstrap(c, 50, seed=9)) != json.dumps(evaluate.bootstrap(c, 50, seed=10))


def test_truth_join(tmp_path: object) -> None:
    ids = pa.array(["m1", "m2", "m3"])
    ab = np.array([True, False, True])
    has, abusive = evaluate.truth_for(np.array(["m3", "x", "m2"], dtype=object), ids, ab)
    assert has.tolist() == [True, False, True]
    assert abusive.tolist() == [True, False, False]


def test_truth_file_errors(tmp_path: pytest.TempPathFactory) -> None:
    from pathlib import Path

    p = Path(str(tmp_path)) / "t.jsonl"
    with pytest.raises(evaluate.DataError, match="does not exist"):
        evaluate.load_truth(p)
    p.write_text('{"msg_id":"a","abusive":true}\nnot json\n')
    with pytest.raises(evaluate.DataError, match="not twitchsim truth JSON lines"):
        evaluate.load_truth(p)
