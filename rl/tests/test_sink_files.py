"""The sink's Parquet files, read back with pyarrow alone (an independent reader of what the Go sink wrote).

The files come from the real pipeline (conftest.pipeline_logs). scripts/train.sh wrote sink-check.json after the run:
how many entries each stream had and how many the sink dead-lettered. Every other entry must be a row, exactly once,
with the columns and types docs/parquet.md promises; the decision table is rebuilt from all files and joined with the
executions.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.pipeline

TS = pa.timestamp("us", tz="UTC")

# A few columns per dataset with the type docs/parquet.md gives them.
EXPECTED_TYPES: dict[str, dict[str, pa.DataType]] = {
    "decisions": {
        "entry_id": pa.string(),
        "decision_id": pa.string(),
        "decided_at": TS,
        "tmi_sent_at": TS,
        "sub_months": pa.int32(),
        "features": pa.list_(pa.float32()),
        "msg_features": pa.list_(pa.float64()),
        "snapshot": pa.list_(pa.int64()),
        "probs": pa.list_(pa.float64()),
        "clamp_rules": pa.list_(pa.string()),
        "behaviour_prob": pa.float64(),
        "action_final_idx": pa.int32(),
        "explored": pa.bool_(),
        "lat_total_us": pa.int64(),
    },
    "mod": {"entry_id": pa.string(), "kind": pa.string(), "duration_s": pa.int64(), "received_at": TS},
    "executions": {"entry_id": pa.string(), "status": pa.string(), "http_status": pa.int32(), "executed_at": TS},
}


def _check(logs: Path) -> dict[str, dict[str, int]]:
    p = logs / "sink-check.json"
    if not p.is_file():
        if os.environ.get("RL_PIPELINE_LOGS"):
            pytest.skip(f"{p} missing: RL_PIPELINE_LOGS points at logs from before train.sh wrote it")
        pytest.fail(f"{p} missing: scripts/train.sh writes it after the pipeline run")
    out: dict[str, dict[str, int]] = json.loads(p.read_text())
    return out


def _read_dataset(root: Path) -> tuple[pa.Table, int]:
    files = sorted(root.rglob("part-*.parquet"))
    tables = []
    for f in files:
        t = pq.read_table(f)  # every column, every page
        md = pq.read_metadata(f).metadata or {}
        assert md.get(b"streamsafe.schema_version") == b"1", (
            f"{f}: schema version {md.get(b'streamsafe.schema_version')!r}"
        )
        assert int(md[b"streamsafe.rows"]) == t.num_rows, f"{f}: footer rows vs rows read"
        assert t.column("entry_id")[0].as_py() == md[b"streamsafe.first_id"].decode(), f"{f}: first id"
        assert t.column("entry_id")[-1].as_py() == md[b"streamsafe.last_id"].decode(), f"{f}: last id"
        tables.append(t)
    assert tables, f"no part files under {root}"
    return pa.concat_tables(tables), len(files)


@pytest.mark.parametrize("dataset", ["decisions", "mod", "executions"])
def test_rows_equal_stream_entries(pipeline_logs: Path, dataset: str) -> None:
    check = _check(pipeline_logs)[dataset]
    table, files = _read_dataset(pipeline_logs / "data" / dataset)
    assert files == check["files"]
    want = check["stream_entries"] - check["dead_lettered"]
    assert table.num_rows == want, f"{dataset}: {table.num_rows} rows, stream had {want} entries to sink"
    ids = table.column("entry_id")
    assert pc.count_distinct(ids).as_py() == table.num_rows, f"{dataset}: an entry is in the files twice"
    for col, typ in EXPECTED_TYPES[dataset].items():
        got = table.schema.field(col).type
        # A list's element name and nullability are the writer's business; its value type is the contract.
        ok = pa.types.is_list(got) and got.value_type == typ.value_type if pa.types.is_list(typ) else got == typ
        assert ok, f"{dataset}.{col}: {got}, want {typ}"


def test_decision_table_rebuilt(pipeline_logs: Path) -> None:
    dec, _ = _read_dataset(pipeline_logs / "data" / "decisions")
    execs, _ = _read_dataset(pipeline_logs / "data" / "executions")
    n = dec.num_rows
    assert pc.count_distinct(dec.column("decision_id")).as_py() == n, "decision_id is not unique"
    assert pc.count_distinct(dec.column("src_id")).as_py() == n, "a chat entry was decided twice"
    # Shapes of the RL inputs: a 44-value fs-1 state (or none for bad input), 6 behaviour probabilities summing to 1.
    lens = pc.list_value_length(dec.column("features")).to_pylist()
    assert set(lens) <= {0, 44}, f"feature vector lengths {set(lens)}"
    assert set(pc.list_value_length(dec.column("probs")).to_pylist()) == {6}
    sums = pc.list_flatten(dec.column("probs")).to_numpy().reshape(-1, 6).sum(axis=1)
    assert abs(sums - 1).max() < 1e-6
    bp = dec.column("behaviour_prob").to_numpy()
    assert (bp > 0).all() and (bp <= 1).all()
    # Null where the event had no time, never 1970 (docs/parquet.md: absent timestamps are null).
    assert pc.min(dec.column("decided_at")).as_py().year >= 2020
    # Executions join their decisions: every executed action belongs to a logged decision.
    joined = execs.join(dec.select(["decision_id", "action_final"]), "decision_id", join_type="left outer")
    missing = joined.filter(pc.is_null(joined.column("action_final"))).num_rows
    assert missing == 0, f"{missing} executions name no decision in the files"
