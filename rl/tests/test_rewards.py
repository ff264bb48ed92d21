"""The reward join (PySpark): each rule of the rw-1 table on a small hand-made case, bounds, duplicates, and
byte-identical output; plus the label quality on the real pipeline's logs against the simulator's truth."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

import sinkfiles as sf
from conftest import MISS_WINDOW, REVERSE_WINDOW
from streamsafe_rl import data, evaluate, rewards, steps
from streamsafe_rl.data import NoLabelsError, Window

T = sf.T0_MS + 10_000
W = Window(data.from_us(sf.T0_MS * 1000), data.from_us((sf.T0_MS + 60_000) * 1000))


def _case() -> tuple[sf.Dataset, dict[str, dict[str, Any]]]:
    ds = sf.Dataset()
    d: dict[str, dict[str, Any]] = {}

    def add(name: str, ms: int, **kw: Any) -> dict[str, Any]:
        row = sf.decision(ms, **kw)
        ds.decisions.append(row)
        d[name] = row
        return row

    # missed: IGNORE, then a human timeout of the author 5 s later (no execution behind it).
    add("ignored_then_human_timeout", T, user="u1", action=0)
    ds.mod.append(sf.mod(T + 5000, "timeout", user="u1", duration=600))
    # the system's own delete echoed back: not a human action.
    r = add("deleted_with_echo", T + 10, user="u2", action=2)
    ds.executions.append(sf.execution(T + 100, r))
    ds.mod.append(sf.mod(T + 120, "delete", user="u2", msg=r["msg_id"]))
    # reversed: executed TIMEOUT_600 (echoed), lifted by a human 5 s later.
    r = add("timeout_reversed", T + 20, user="u3", action=4)
    ds.executions.append(sf.execution(T + 200, r, seq=1))
    ds.mod.append(sf.mod(T + 210, "timeout", user="u3", duration=600))
    ds.mod.append(sf.mod(T + 5200, "untimeout", user="u3", source="sim"))
    # a human action outside the miss window: no label.
    add("ignored_late_human", T + 30, user="u4", action=0)
    ds.mod.append(sf.mod(T + 30 + int(MISS_WINDOW * 1000) + 5000, "timeout", user="u4", duration=600))
    # not executed: the executor failed.
    r = add("delete_failed", T + 40, user="u5", action=2)
    ds.executions.append(sf.execution(T + 300, r, seq=2, status="failed"))
    # missed: a human deleted this very message (CLEARMSG has no room id).
    r = add("ignored_then_human_delete", T + 50, user="u6", action=0)
    ds.mod.append(sf.mod(T + 4000, "delete", user="u6", room="", msg=r["msg_id"]))
    # WARNed, then a human timeout of the author: not a missed IGNORE.
    r = add("warned_then_human_timeout", T + 60, user="u7", action=1)
    ds.executions.append(sf.execution(T + 400, r, seq=3))
    ds.mod.append(sf.mod(T + 6000, "timeout", user="u7", duration=600))
    # two executed timeouts of one user, one reversal: only the later one is reversed.
    a = add("timeout_first", T + 70, user="u8", action=3)
    b = add("timeout_second", T + 2070, user="u8", action=3)
    ds.executions += [sf.execution(T + 500, a, seq=4), sf.execution(T + 2500, b, seq=5)]
    ds.mod.append(sf.mod(T + 7000, "untimeout", user="u8", source="sim"))
    # a replayed decision entry (same decision_id): counted once.
    ds.decisions.append(dict(d["ignored_then_human_timeout"], entry_id=f"{T + 80}-0"))
    # data past the label horizon, so the window's labels are complete.
    ds.mod.append(sf.mod(sf.T0_MS + 120_000, "roomstate"))
    return ds, d


@pytest.fixture(scope="module")
def case(
    spark: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], dict[str, dict[str, Any]], Path]:
    root = tmp_path_factory.mktemp("rw")
    ds, d = _case()
    ds.write(root / "data")
    steps.run_rewards(
        root / "data", W, root / "out", miss_window_s=MISS_WINDOW, reverse_window_s=REVERSE_WINDOW, spark=spark
    )
    rows = {r["decision_id"]: r for r in pq.read_table(root / "out" / "rewards.parquet").to_pylist()}
    return rows, d, root


@pytest.mark.parametrize(
    ("name", "label", "reward"),
    [
        ("ignored_then_human_timeout", "missed", -1.0),
        ("deleted_with_echo", "none", -0.02),
        ("timeout_reversed", "reversed", -1.06),
        ("ignored_late_human", "none", 0.0),
        ("delete_failed", "not_executed", None),
        ("ignored_then_human_delete", "missed", -1.0),
        ("warned_then_human_timeout", "none", -0.01),
        ("timeout_first", "none", -0.04),
        ("timeout_second", "reversed", -1.04),
    ],
)
def test_reward_table(case: Any, name: str, label: str, reward: float | None) -> None:
    rows, d, _ = case
    got = rows[d[name]["decision_id"]]
    assert got["label"] == label
    if reward is None:
        assert got["reward"] is None
    else:
        assert got["reward"] == pytest.approx(reward)
    assert got["reward_version"] == rewards.REWARD_VERSION


def test_stats_and_dedup(case: Any) -> None:
    rows, d, root = case
    meta = json.loads((root / "out" / "rewards.json").read_text())
    assert len(rows) == len(d)
    s = meta["stats"]
    assert s["duplicates_removed"] == 1
    assert s["system_echoes"] == 2  # the delete and the timeout echoed back
    assert s["human_actions"] == 4
    assert s["reversals"] == 2
    assert meta["sha256"] == steps.sha256_file(root / "out" / "rewards.parquet")


def test_rewards_bounded_and_sorted(case: Any) -> None:
    _, _, root = case
    t = pq.read_table(root / "out" / "rewards.parquet")
    ids = t.column("decision_id").to_pylist()
    assert ids == sorted(ids)
    r = np.array([x for x in t.column("reward").to_pylist() if x is not None])
    assert r.min() >= rewards.REWARD_MIN
    assert r.max() <= rewards.REWARD_MAX


def test_byte_identical_output(case: Any, spark: Any, tmp_path: Path) -> None:
    _, _, root = case
    steps.run_rewards(
        root / "data", W, tmp_path / "again", miss_window_s=MISS_WINDOW, reverse_window_s=REVERSE_WINDOW, spark=spark
    )
    assert (tmp_path / "again" / "rewards.parquet").read_bytes() == (root / "out" / "rewards.parquet").read_bytes()


def test_no_human_labels(spark: Any, tmp_path: Path) -> None:
    ds = sf.Dataset(decisions=[sf.decision(T + i * 100, user=f"u{i}") for i in range(20)])
    ds.mod += [sf.mod(T, "roomstate"), sf.mod(sf.T0_MS + 300_000, "roomstate")]
    ds.executions.append(sf.execution(T + 50, ds.decisions[0]))
    ds.write(tmp_path / "data")
    with pytest.raises(NoLabelsError, match=r"has no human labels"):
        steps.run_rewards(tmp_path / "data", W, tmp_path / "out", spark=spark)
    assert not (tmp_path / "out" / "rewards.parquet").exists()


def test_labels_not_yet_complete(spark: Any, tmp_path: Path) -> None:
    ds, _ = _case()
    ds.mod = [m for m in ds.mod if m["kind"] != "roomstate"]
    ds.write(tmp_path / "data")
    with pytest.raises(data.MissingPartitionError, match=r"labels of window .* need data until"):
        steps.run_rewards(
            tmp_path / "data",
            W,
            tmp_path / "out",
            miss_window_s=MISS_WINDOW,
            reverse_window_s=REVERSE_WINDOW,
            spark=spark,
        )


def test_missing_mod_dataset(spark: Any, tmp_path: Path) -> None:
    ds, _ = _case()
    ds.mod = []
    ds.write(tmp_path / "data")
    with pytest.raises(data.MissingPartitionError, match=r"mod: dataset directory .* does not exist"):
        steps.run_rewards(tmp_path / "data", W, tmp_path / "out", spark=spark)


def test_spark_submit_entry_point(case: Any, spark: Any, tmp_path: Path) -> None:
    """rewards.py's own main (what spark-submit runs) gives the same table from the directory layout."""
    _, _, root = case
    w = Window(W.start, W.end)
    rc = rewards.main(
        [
            "--data",
            str(root / "data"),
            "--window",
            str(w),
            "--out",
            str(tmp_path / "sub"),
            "--miss-window",
            str(MISS_WINDOW),
            "--reverse-window",
            str(REVERSE_WINDOW),
        ]
    )
    assert rc == 0
    assert (tmp_path / "sub" / "rewards.parquet").read_bytes() == (root / "out" / "rewards.parquet").read_bytes()


@pytest.mark.pipeline
def test_labels_on_pipeline_logs_match_truth(e2e: Any) -> None:
    """On the real pipeline's logs, a missed-abuse label is almost always on an abusive message (simulator truth),
    and the echoes of the system's own actions are recognised as such."""
    meta = json.loads((e2e.rewards / "rewards.json").read_text())
    s = meta["stats"]
    assert s["missed"] > 0 and s["system_echoes"] > 0 and s["human_actions"] > 0
    t = pq.read_table(e2e.rewards / "rewards.parquet")
    w = Window(e2e.train_window.start, e2e.eval_window.end)
    dec = data.load_decisions(e2e.logs / "data", w)
    labelled = set(t.filter(t.column("human_followup")).column("decision_id").to_pylist())
    mask = np.array([i in labelled for i in dec.decision_id])
    tids, ab = evaluate.load_truth(e2e.logs / "truth.jsonl")
    has, abusive = evaluate.truth_for(dec.msg_id, tids, ab)
    assert has.all()
    precision = abusive[mask].mean()
    assert precision >= 0.8, f"only {precision:.0%} of missed-abuse labels are on abusive messages"
    # And abusive messages the logged policy ignored are labelled at about the simulated moderators' share (0.5).
    ign_abusive = abusive & (dec.action == 0)
    share = mask[ign_abusive].mean()
    assert 0.3 <= share <= 0.7, share
    assert timedelta(seconds=1) < (w.end - w.start)
