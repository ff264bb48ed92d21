"""The Parquet contract of the sink (docs/parquet.md), the action set and the feature set.

Everything that names a column, a footer key or an action index lives here, so a change of the contract is a
change of this one file (and of docs/parquet.md, which it mirrors).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

# Footer key/value metadata every sink file carries.
META_STREAM = "streamsafe.stream"
META_SCHEMA = "streamsafe.schema"
META_SCHEMA_VERSION = "streamsafe.schema_version"
META_FIRST_ID = "streamsafe.first_id"
META_LAST_ID = "streamsafe.last_id"
META_ROWS = "streamsafe.rows"
META_WRITER = "streamsafe.writer"

SCHEMA_VERSION = "1"
"""The only schema version of the three datasets this code reads."""

STREAMS: dict[str, str] = {"decisions": "decision", "mod": "mod", "executions": "execution"}
"""Dataset directory (stream name without the ``streamsafe:`` prefix) -> schema name."""

TS = pa.timestamp("us", tz="UTC")

DECISION_COLUMNS: dict[str, pa.DataType] = {
    "entry_id": pa.string(),
    "schema_version": pa.string(),
    "decision_id": pa.string(),
    "src_id": pa.string(),
    "msg_id": pa.string(),
    "room_id": pa.string(),
    "channel": pa.string(),
    "user_id": pa.string(),
    "login": pa.string(),
    "tmi_sent_at": TS,
    "received_at": TS,
    "read_at": TS,
    "decided_at": TS,
    "event_time": TS,
    "broadcaster": pa.bool_(),
    "moderator": pa.bool_(),
    "vip": pa.bool_(),
    "subscriber": pa.bool_(),
    "sub_months": pa.int32(),
    "first_msg": pa.bool_(),
    "returning_chatter": pa.bool_(),
    "is_reply": pa.bool_(),
    "is_action": pa.bool_(),
    "feature_set": pa.string(),
    "features": pa.list_(pa.float32()),
    "msg_features": pa.list_(pa.float64()),
    "text_hash": pa.string(),
    "snapshot": pa.list_(pa.int64()),
    "risk_score": pa.float64(),
    "action_deterministic": pa.string(),
    "action_requested": pa.string(),
    "action_final": pa.string(),
    "action_final_idx": pa.int32(),
    "clamp_rules": pa.list_(pa.string()),
    "over_budget": pa.bool_(),
    "decision_path": pa.string(),
    "failure_reason": pa.string(),
    "policy_version": pa.string(),
    "clamp_version": pa.string(),
    "action_set": pa.string(),
    "explore_eps": pa.float64(),
    "explore_draw": pa.float64(),
    "explored": pa.bool_(),
    "behaviour_prob": pa.float64(),
    "probs": pa.list_(pa.float64()),
    "lat_decode_us": pa.int64(),
    "lat_features_us": pa.int64(),
    "lat_store_us": pa.int64(),
    "lat_score_us": pa.int64(),
    "lat_clamp_us": pa.int64(),
    "lat_total_us": pa.int64(),
    "consumer": pa.string(),
}

MOD_COLUMNS: dict[str, pa.DataType] = {
    "entry_id": pa.string(),
    "schema_version": pa.string(),
    "kind": pa.string(),
    "source": pa.string(),
    "room_id": pa.string(),
    "channel": pa.string(),
    "target_user_id": pa.string(),
    "target_login": pa.string(),
    "target_msg_id": pa.string(),
    "duration_s": pa.int64(),
    "text": pa.string(),
    "moderator_login": pa.string(),
    "raid_viewers": pa.int32(),
    "raid_from_login": pa.string(),
    "settings": pa.string(),
    "tmi_sent_at": TS,
    "received_at": TS,
}

EXECUTION_COLUMNS: dict[str, pa.DataType] = {
    "entry_id": pa.string(),
    "schema_version": pa.string(),
    "decision_id": pa.string(),
    "msg_id": pa.string(),
    "room_id": pa.string(),
    "user_id": pa.string(),
    "action": pa.string(),
    "status": pa.string(),
    "http_status": pa.int32(),
    "attempts": pa.int32(),
    "latency_us": pa.int64(),
    "error": pa.string(),
    "executed_at": TS,
}

COLUMNS: dict[str, dict[str, pa.DataType]] = {
    "decisions": DECISION_COLUMNS,
    "mod": MOD_COLUMNS,
    "executions": EXECUTION_COLUMNS,
}

NULLABLE: dict[str, frozenset[str]] = {
    "decisions": frozenset({"tmi_sent_at", "received_at", "read_at"}),
    "mod": frozenset({"tmi_sent_at", "received_at"}),
    "executions": frozenset(),
}
"""Columns that may hold nulls (timestamps the event did not carry); every other column is required."""

# Snapshot positions (event.DecisionSnapshotNames) the clamp needs.
SNAP_LAST_SYS_ACTION_MS = 12
SNAP_LAST_SYS_WARN_MS = 13
SNAP_RAID_ACTIVE = 16
SNAPSHOT_LEN = 18

# The discrete action set as-1 (shared/event.DiscreteActions). Index i of every policy output is ACTIONS[i].
ACTION_SET = "as-1"
ACTIONS: tuple[str, ...] = ("IGNORE", "WARN", "DELETE", "TIMEOUT_60", "TIMEOUT_600", "TIMEOUT_3600")
NUM_ACTIONS = len(ACTIONS)
IGNORE = 0

# Decision paths and failure reasons (shared/event/decision.go).
PATH_FAIL_OPEN = "fail_open"

FEATURE_SET = "fs-1"
NUM_FEATURES = 44


def repo_root() -> Path:
    """The repository root: rl/src/streamsafe_rl/schema.py is four levels below it."""
    return Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class FeatureSet:
    """A state-vector layout (schemas/features/<version>.json)."""

    version: str
    names: tuple[str, ...]

    @property
    def length(self) -> int:
        return len(self.names)


def load_feature_set(path: Path | None = None) -> FeatureSet:
    """Read schemas/features/fs-1.json (or path) and check it against the layout this code was written for."""
    p = path or repo_root() / "schemas" / "features" / f"{FEATURE_SET}.json"
    try:
        doc = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read feature set {p}: {e}") from e
    names = tuple(str(n) for n in doc.get("names", []))
    fs = FeatureSet(version=str(doc.get("version", "")), names=names)
    if fs.version != FEATURE_SET or fs.length != NUM_FEATURES or int(doc.get("length", -1)) != NUM_FEATURES:
        raise ValueError(
            f"feature set {p}: version {fs.version!r} with {fs.length} names, want {FEATURE_SET!r} with {NUM_FEATURES}"
        )
    return fs
