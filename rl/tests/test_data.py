"""Bad input is a clear error naming the problem, never a silently empty or wrong dataset."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sinkfiles as sf
from streamsafe_rl import data, schema
from streamsafe_rl.data import (
    DataError,
    EmptyWindowError,
    MissingPartitionError,
    NoLabelsError,
    SchemaError,
    SchemaVersionError,
    Window,
)

W = Window(data.from_us(sf.T0_MS * 1000), data.from_us((sf.T0_MS + 600_000) * 1000))


def _dataset(root: Path, n: int = 50, start_ms: int = sf.T0_MS + 1000) -> Path:
    ds = sf.Dataset(decisions=[sf.decision(start_ms + 100 * i, user=f"u{i % 5}") for i in range(n)])
    ds.mod = [sf.mod(start_ms + 50, "roomstate")]
    ds.executions = [sf.execution(start_ms + 60, ds.decisions[0])]
    return ds.write(root)


def test_valid_dataset_loads(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    d = data.load_decisions(root, W)
    assert len(d) == 50
    assert d.features.shape == (50, schema.NUM_FEATURES)
    assert list(d.event_time_us) == sorted(d.event_time_us)


def test_missing_dataset_directory(tmp_path: Path) -> None:
    with pytest.raises(MissingPartitionError, match=r"decisions: dataset directory .* does not exist"):
        data.load_decisions(tmp_path, W)


def test_missing_hour_partition(tmp_path: Path) -> None:
    # Data at 00:00 and 02:00, nothing for hour 01: a window over the three hours must name hour=01.
    ds = sf.Dataset(decisions=[sf.decision(sf.T0_MS + 1000), sf.decision(sf.T0_MS + 2 * 3_600_000 + 1000)])
    root = ds.write(tmp_path)
    w = Window(W.start, W.start + timedelta(hours=3))
    with pytest.raises(MissingPartitionError, match=r"no partition for dt=2026-11-26/hour=01 inside window"):
        data.load_decisions(root, w)


def test_other_schema_version(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    f = next((root / "decisions").rglob("part-*.parquet"))
    t = pq.read_table(f)
    meta = dict(t.schema.metadata)
    meta[schema.META_SCHEMA_VERSION.encode()] = b"2"
    pq.write_table(t.replace_schema_metadata(meta), f)
    with pytest.raises(SchemaVersionError, match=rf"{f.name}: schema_version '2', this code reads version '1' only"):
        data.load_decisions(root, W)


def test_file_of_another_schema(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    f = next((root / "mod").rglob("part-*.parquet"))
    dst = root / "decisions" / f.parent.parent.name / f.parent.name / f.name
    dst.write_bytes(f.read_bytes())  # a mod file among the decisions
    with pytest.raises(SchemaVersionError, match=r"footer says stream 'mod' schema 'mod', want stream 'decisions'"):
        data.load_decisions(root, W)


def test_wrong_column_type(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    f = next((root / "decisions").rglob("part-*.parquet"))
    t = pq.read_table(f)
    i = t.schema.get_field_index("risk_score")
    t = t.set_column(i, pa.field("risk_score", pa.string()), pa.array([str(x) for x in t.column(i).to_pylist()]))
    pq.write_table(t, f)
    with pytest.raises(SchemaError, match=r"wrong types: risk_score is string, want double"):
        data.load_decisions(root, W)


def test_missing_column(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    f = next((root / "decisions").rglob("part-*.parquet"))
    t = pq.read_table(f)
    pq.write_table(t.drop(["probs"]), f)
    with pytest.raises(SchemaError, match=r"missing \['probs'\]"):
        data.load_decisions(root, W)


def test_truncated_row_count(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    f = next((root / "decisions").rglob("part-*.parquet"))
    t = pq.read_table(f)
    pq.write_table(t.slice(0, 10).replace_schema_metadata(t.schema.metadata), f)
    with pytest.raises(SchemaError, match=r"footer says 50 rows, the file has 10"):
        data.load_decisions(root, W)


def test_overlapping_files(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    f = next((root / "decisions").rglob("part-*.parquet"))
    t = pq.read_table(f)
    sub = t.slice(5, 10)
    first, last = sub.column("entry_id")[0].as_py(), sub.column("entry_id")[-1].as_py()
    meta = dict(t.schema.metadata)
    meta.update(
        {
            schema.META_FIRST_ID.encode(): first.encode(),
            schema.META_LAST_ID.encode(): last.encode(),
            schema.META_ROWS.encode(): b"10",
        }
    )
    pq.write_table(sub.replace_schema_metadata(meta), f.parent / f"part-{first}-{last}.parquet")
    with pytest.raises(SchemaError, match=r"overlap in entry-ID range"):
        data.load_decisions(root, W)


def test_temporary_files_are_ignored(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    f = next((root / "decisions").rglob("part-*.parquet"))
    (f.parent / (".part-9-9.parquet.tmp")).write_bytes(b"garbage")
    assert len(data.load_decisions(root, W)) == 50


def test_empty_window(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    w = Window(W.start + timedelta(minutes=5), W.start + timedelta(minutes=6))
    with pytest.raises(EmptyWindowError, match=r"window .* has no decisions"):
        data.load_decisions(root, w)


def test_only_fail_open_is_empty(tmp_path: Path) -> None:
    ds = sf.Dataset(
        decisions=[sf.decision(sf.T0_MS + 1000 + i, failure_reason="feature_store_timeout") for i in range(5)]
    )
    with pytest.raises(EmptyWindowError, match=r"only fail-open decisions"):
        data.load_decisions(ds.write(tmp_path), W)


def test_other_feature_set(tmp_path: Path) -> None:
    ds = sf.Dataset(decisions=[sf.decision(sf.T0_MS + 1000, feature_set="fs-2")])
    with pytest.raises(SchemaVersionError, match=r"feature_set \['fs-2'\], this code reads 'fs-1' only"):
        data.load_decisions(ds.write(tmp_path), W)


def test_duplicates_removed(tmp_path: Path) -> None:
    a = sf.decision(sf.T0_MS + 1000)
    b = dict(a, entry_id=f"{sf.T0_MS + 2000}-0")  # the same decision logged twice (replay)
    d = data.load_decisions(sf.Dataset(decisions=[a, b]).write(tmp_path), W)
    assert len(d) == 1
    assert d.dropped == {"duplicate_decision_id": 1}


def _rewards_table(ids: list[str], followup: list[bool], reward: list[float | None]) -> pa.Table:
    n = len(ids)
    return pa.table(
        {
            "decision_id": ids,
            "reward": pa.array(reward, pa.float64()),
            "reward_version": ["rw-1"] * n,
            "human_followup": followup,
            "reversed": [False] * n,
            "label": ["none"] * n,
        }
    )


def test_window_without_human_labels(tmp_path: Path) -> None:
    d = data.load_decisions(_dataset(tmp_path), W)
    rw = _rewards_table(list(d.decision_id), [False] * len(d), [0.0] * len(d))
    with pytest.raises(NoLabelsError, match=r"has no human labels"):
        data.attach_rewards(d, rw)


def test_rewards_of_another_window(tmp_path: Path) -> None:
    d = data.load_decisions(_dataset(tmp_path), W)
    ids = list(d.decision_id)[:10]
    with pytest.raises(DataError, match=r"40 of 50 decisions .* have no reward row"):
        data.attach_rewards(d, _rewards_table(ids, [True] * 10, [0.0] * 10))


def test_not_executed_rows_are_dropped(tmp_path: Path) -> None:
    d = data.load_decisions(_dataset(tmp_path), W)
    rw = _rewards_table(list(d.decision_id), [False] * 49 + [True], [None] * 5 + [-1.0] * 45)
    out = data.attach_rewards(d, rw)
    assert len(out) == 45
    assert out.dropped["not_executed"] == 5
    np.testing.assert_array_equal(out.reward, np.full(45, -1.0))


def test_cli_bad_input_exits_2_with_one_line(tmp_path: Path) -> None:
    root = _dataset(tmp_path)
    f = next((root / "decisions").rglob("part-*.parquet"))
    t = pq.read_table(f)
    meta = dict(t.schema.metadata)
    meta[schema.META_SCHEMA_VERSION.encode()] = b"7"
    pq.write_table(t.replace_schema_metadata(meta), f)
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "streamsafe_rl",
            "rewards",
            "--data",
            str(root),
            "--window",
            str(W),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("streamsafe_rl rewards: SchemaVersionError:")
    assert "schema_version '7'" in r.stderr
    assert not (tmp_path / "o").exists()


def test_window_parse_and_slug() -> None:
    w = Window.parse("2026-11-26T00:00:00Z/2026-11-26T01:30:00Z")
    assert w.slug == "20261126T000000Z-20261126T013000Z"
    assert str(w) == "2026-11-26T00:00:00Z/2026-11-26T01:30:00Z"
    assert len(w.hours()) == 2
    with pytest.raises(ValueError, match="empty window"):
        Window.parse("2026-11-26T01:00:00Z/2026-11-26T00:00:00Z")
    with pytest.raises(ValueError, match="want START/END"):
        Window.parse("2026-11-26T01:00:00Z")
