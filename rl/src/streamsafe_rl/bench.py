"""Benchmark input: the logs of a real pipeline run, replicated in time to N decisions.

Replica r of the run is the run shifted by r x (its span + 5 minutes): every timestamp, every entry ID's
milliseconds, the snapshot's times (first seen, last message, last system action and warn) and the truth file's
tmi_sent_ts move together; decision_id, msg_id (and the mod/executions/truth references to them) get a ``-r<r>``
suffix so they stay unique. Users, channels, features, actions and labels are the run's own, so the replicated
dataset is N decisions of exactly the pipeline's distribution, in the sink's layout (written by data.write_parts,
validated like any sink output).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from streamsafe_rl import data, schema

SNAPSHOT_TIMES = (3, 4, 12, 13)  # first_seen_ms, last_msg_ms, last_sys_action_ms, last_sys_warn_ms


def _read_all(root: Path, stream: str) -> pa.Table:
    parts = data.list_parts(root, stream)
    if not parts:
        raise data.MissingPartitionError(f"{stream}: no files under {root / stream}")
    return data.read_parts(parts, list(schema.COLUMNS[stream]))


def _split_ids(ids: pa.ChunkedArray) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.str_]]:
    vals = ids.to_pylist()
    ms = np.array([int(v.split("-")[0]) for v in vals], dtype=np.int64)
    seq = np.array(["-" + v.split("-")[1] for v in vals])
    return ms, seq


def _shift_ids(ms: npt.NDArray[np.int64], seq: npt.NDArray[np.str_], shift_ms: int) -> pa.Array:
    return pa.array(np.char.add((ms + shift_ms).astype(str), seq).tolist(), pa.string())


def _suffix(col: pa.ChunkedArray, suffix: str) -> pa.ChunkedArray:
    # Empty strings (no reference) stay empty.
    s = pc.binary_join_element_wise(col, pa.scalar(suffix), "")
    return pc.if_else(pc.equal(col, ""), col, s)


def _shift_ts(col: pa.ChunkedArray, shift_us: int) -> pa.ChunkedArray:
    return pc.cast(pc.add(pc.cast(col, pa.int64()), shift_us), schema.TS)


def _replica(
    t: pa.Table, stream: str, r: int, shift_ms: int, ids: tuple[npt.NDArray[np.int64], npt.NDArray[np.str_]]
) -> pa.Table:
    sfx = f"-r{r}"
    cols = {}
    for name in t.column_names:
        c = t.column(name)
        ty = schema.COLUMNS[stream][name]
        if name == "entry_id":
            c = _shift_ids(ids[0], ids[1], shift_ms)
        elif name == "src_id":
            ms, seq = _split_ids(c)
            c = _shift_ids(ms, seq, shift_ms)
        elif name in ("decision_id", "msg_id", "target_msg_id"):
            c = _suffix(c, sfx)
        elif pa.types.is_timestamp(ty):
            c = _shift_ts(c, shift_ms * 1000)
        elif name == "snapshot":
            arr = c.combine_chunks()
            vals = (
                np.asarray(arr.flatten().to_numpy(zero_copy_only=False), dtype=np.int64)
                .reshape(len(arr), schema.SNAPSHOT_LEN)
                .copy()
            )
            for j in SNAPSHOT_TIMES:
                nz = vals[:, j] != 0
                vals[nz, j] += shift_ms
            c = pa.ListArray.from_arrays(
                pa.array(np.arange(0, vals.size + 1, schema.SNAPSHOT_LEN, dtype=np.int32)), pa.array(vals.ravel())
            )
        cols[name] = c
    return pa.table(cols)


def replicate(
    src: Path, truth: Path | None, out: Path, rows: int, log: Callable[[str], None] = print
) -> tuple[Path, Path | None]:
    """Write src's logs replicated to `rows` decisions under out (sink layout); returns (out, replicated truth)."""
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty")
    tables = {s: _read_all(src, s) for s in schema.STREAMS}
    n_src = tables["decisions"].num_rows
    k = math.ceil(rows / n_src)
    lo = min(int(pc.min(_split_ids(t.column("entry_id"))[0]).as_py()) for t in tables.values())
    hi = max(int(pc.max(_split_ids(t.column("entry_id"))[0]).as_py()) for t in tables.values())
    step_ms = (hi - lo) + 300_000  # 5 min gap: more than any label window, so replicas never join
    log(f"bench: {n_src} decisions x {k} replicas (step {step_ms / 1000:.0f} s) -> {rows} decisions under {out}")
    ids = {s: _split_ids(t.column("entry_id")) for s, t in tables.items()}
    for s, t in tables.items():
        reps = []
        for r in range(k):
            rt = _replica(t, s, r, r * step_ms, ids[s])
            if s == "decisions" and r == k - 1:
                rt = rt.slice(0, rows - (k - 1) * n_src)
            reps.append(rt)
        data.write_parts(out, s, pa.concat_tables(reps), writer="rl-bench")
    tout = None
    if truth is not None:
        tout = out / "truth.jsonl"
        lines = truth.read_text().splitlines()
        recs = [json.loads(ln) for ln in lines if ln.strip()]
        with tout.open("w") as f:
            for r in range(k):
                for rec in recs:
                    f.write(
                        json.dumps(
                            rec | {"msg_id": f"{rec['msg_id']}-r{r}", "tmi_sent_ts": rec["tmi_sent_ts"] + r * step_ms}
                        )
                        + "\n"
                    )
    return out, tout
