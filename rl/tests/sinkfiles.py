"""Small hand-made sink datasets for the error-path and join-logic unit tests.

They follow docs/parquet.md exactly (all columns, types, footer metadata, layout: data.write_parts). They are NOT
used to train or to test learning: those tests use logs of the real pipeline (conftest.pipeline_logs).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from streamsafe_rl import data, schema

T0_MS = 1_795_651_200_000  # 2026-11-26T00:00:00Z


def _row_defaults(stream: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for c, t in schema.COLUMNS[stream].items():
        if pa.types.is_string(t):
            out[c] = ""
        elif pa.types.is_boolean(t):
            out[c] = False
        elif pa.types.is_integer(t) or pa.types.is_floating(t):
            out[c] = 0
        elif pa.types.is_list(t):
            out[c] = []
        else:
            out[c] = None
    out["schema_version"] = "1"
    return out


def decision(
    ms: int,
    seq: int = 0,
    *,
    user: str = "u1",
    room: str = "r1",
    action: int = 0,
    msg: str | None = None,
    explored: bool = False,
    probs: list[float] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """One decision row at entry time ms (event_time = ms - 5)."""
    msg = msg or str(uuid.uuid5(uuid.NAMESPACE_URL, f"m{ms}-{seq}"))
    p = probs or [1.0 if i == action else 0.0 for i in range(schema.NUM_ACTIONS)]
    r = _row_defaults("decisions") | {
        "entry_id": f"{ms}-{seq}",
        "decision_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"d{ms}-{seq}")),
        "src_id": f"{ms - 1}-{seq}",
        "msg_id": msg,
        "room_id": room,
        "channel": "chan" + room,
        "user_id": user,
        "login": "login" + user,
        "tmi_sent_at": (ms - 5) * 1000,
        "received_at": (ms - 3) * 1000,
        "read_at": (ms - 2) * 1000,
        "decided_at": (ms - 1) * 1000,
        "event_time": (ms - 5) * 1000,
        "feature_set": schema.FEATURE_SET,
        "features": [0.5] * schema.NUM_FEATURES,
        "msg_features": [0.0] * 26,
        "text_hash": "0123456789abcdef",
        "snapshot": [0] * schema.SNAPSHOT_LEN,
        "risk_score": 0.1,
        "action_deterministic": schema.ACTIONS[action],
        "action_requested": schema.ACTIONS[action],
        "action_final": schema.ACTIONS[action],
        "action_final_idx": action,
        "decision_path": "explore" if explored else "deterministic",
        "policy_version": "baseline-v1",
        "clamp_version": "b0416db4e1ca",
        "action_set": schema.ACTION_SET,
        "explore_eps": 0.1,
        "explored": explored,
        "behaviour_prob": p[action],
        "probs": p,
        "consumer": "t",
    }
    r.update(kw)
    return r


def mod(
    ms: int,
    kind: str,
    *,
    seq: int = 0,
    user: str = "u1",
    room: str = "r1",
    msg: str = "",
    duration: int = 0,
    source: str = "irc",
) -> dict[str, Any]:
    return _row_defaults("mod") | {
        "entry_id": f"{ms}-{seq}",
        "kind": kind,
        "source": source,
        "room_id": room,
        "channel": "chan" + room,
        "target_user_id": user,
        "target_msg_id": msg,
        "duration_s": duration,
        "tmi_sent_at": ms * 1000,
        "received_at": (ms + 1) * 1000,
    }


def execution(ms: int, dec: dict[str, Any], *, seq: int = 0, status: str = "success") -> dict[str, Any]:
    return _row_defaults("executions") | {
        "entry_id": f"{ms}-{seq}",
        "decision_id": dec["decision_id"],
        "msg_id": dec["msg_id"],
        "room_id": dec["room_id"],
        "user_id": dec["user_id"],
        "action": dec["action_final"],
        "status": status,
        "http_status": 200,
        "attempts": 1,
        "executed_at": ms * 1000,
    }


def table(stream: str, rows: list[dict[str, Any]]) -> pa.Table:
    cols = schema.COLUMNS[stream]
    return pa.table({c: pa.array([r[c] for r in rows], type=t) for c, t in cols.items()})


@dataclass
class Dataset:
    decisions: list[dict[str, Any]] = field(default_factory=list)
    mod: list[dict[str, Any]] = field(default_factory=list)
    executions: list[dict[str, Any]] = field(default_factory=list)

    def write(self, root: Path, rows_per_file: int = 1000) -> Path:
        for s in schema.STREAMS:
            rows = sorted(getattr(self, s), key=lambda r: tuple(int(x) for x in r["entry_id"].split("-")))
            if rows:
                data.write_parts(root, s, table(s, rows), rows_per_file=rows_per_file)
        return root
