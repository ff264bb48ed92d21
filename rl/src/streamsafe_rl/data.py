"""Reading the sink's Parquet datasets (docs/parquet.md) into validated, windowed arrays.

Layout: ``<root>/<stream>/dt=YYYY-MM-DD/hour=HH/part-<first id>-<last id>.parquet``. Every file is checked before
a single row is used: the footer's ``streamsafe.*`` metadata (stream, schema, schema version, row count, ID range),
the column names and types, and the partition it sits in. Bad input is an error that names the problem and the
file or hour; never a silently empty or wrong dataset.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from streamsafe_rl import schema


class DataError(Exception):
    """Input data that cannot be used as it is."""


class MissingPartitionError(DataError):
    """A dataset, or an hour partition of it that the window needs, is not there."""


class SchemaVersionError(DataError):
    """A file of another schema (version) than this code reads."""


class SchemaError(DataError):
    """A file whose columns, types or footer do not follow docs/parquet.md."""


class EmptyWindowError(DataError):
    """A window without usable rows."""


class NoLabelsError(DataError):
    """A window without any human-moderator label (no human action, no reversal)."""


# ---------------------------------------------------------------------------------------------------------------
# Windows


_TS_FORMATS = ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ")


def parse_time(s: str) -> datetime:
    """Parse an RFC 3339 UTC time such as ``2026-11-26T00:12:00Z``."""
    for f in _TS_FORMATS:
        try:
            return datetime.strptime(s, f).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"bad time {s!r}: want UTC like 2026-11-26T00:12:00Z")


def format_time(t: datetime) -> str:
    t = t.astimezone(UTC)
    if t.microsecond:
        return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, order=True)
class Window:
    """A half-open time window [start, end) in UTC, on the decision clock (``event_time``)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window times must be timezone-aware (UTC)")
        if self.end <= self.start:
            raise ValueError(f"empty window: end {format_time(self.end)} is not after start {format_time(self.start)}")

    @classmethod
    def parse(cls, s: str) -> Window:
        """Parse ``START/END`` (RFC 3339 UTC times)."""
        a, sep, b = s.partition("/")
        if not sep:
            raise ValueError(f"bad window {s!r}: want START/END, e.g. 2026-11-26T00:00:00Z/2026-11-26T01:00:00Z")
        return cls(parse_time(a), parse_time(b))

    def __str__(self) -> str:
        return f"{format_time(self.start)}/{format_time(self.end)}"

    @property
    def slug(self) -> str:
        """A file-name-safe form: ``20261126T000000Z-20261126T010000Z``."""
        f = "%Y%m%dT%H%M%SZ"
        return f"{self.start.astimezone(UTC).strftime(f)}-{self.end.astimezone(UTC).strftime(f)}"

    @property
    def start_us(self) -> int:
        return to_us(self.start)

    @property
    def end_us(self) -> int:
        return to_us(self.end)

    def hours(self) -> list[datetime]:
        """The UTC hours that overlap the window."""
        h = self.start.replace(minute=0, second=0, microsecond=0)
        out = []
        while h < self.end:
            out.append(h)
            h += timedelta(hours=1)
        return out


def to_us(t: datetime) -> int:
    d = t - datetime(1970, 1, 1, tzinfo=UTC)
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def from_us(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(us))


# ---------------------------------------------------------------------------------------------------------------
# Files

_ID_RE = re.compile(r"^(\d+)-(\d+)$")
_PART_RE = re.compile(r"^part-(\d+-\d+)-(\d+-\d+)\.parquet$")


def _id_key(entry_id: str) -> tuple[int, int]:
    m = _ID_RE.match(entry_id)
    if not m:
        raise ValueError(f"bad stream entry ID {entry_id!r}")
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True)
class PartFile:
    """One complete sink file, validated."""

    path: Path
    stream: str
    hour: datetime
    first_id: str
    last_id: str
    rows: int

    @property
    def first_key(self) -> tuple[int, int]:
        return _id_key(self.first_id)

    @property
    def last_key(self) -> tuple[int, int]:
        return _id_key(self.last_id)


def _partition_hour(path: Path, stream: str) -> datetime:
    hour_dir, dt_dir = path.parent.name, path.parent.parent.name
    if not (dt_dir.startswith("dt=") and hour_dir.startswith("hour=")):
        raise MissingPartitionError(f"{stream}: {path} is not inside a dt=YYYY-MM-DD/hour=HH partition")
    try:
        return datetime.strptime(f"{dt_dir[3:]} {hour_dir[5:]}", "%Y-%m-%d %H").replace(tzinfo=UTC)
    except ValueError as e:
        raise MissingPartitionError(f"{stream}: bad partition directory {dt_dir}/{hour_dir} of {path}") from e


def validate_file(path: Path, stream: str) -> PartFile:
    """Check one file against docs/parquet.md: name, partition, footer metadata, columns and types."""
    if stream not in schema.STREAMS:
        raise ValueError(f"unknown stream {stream!r} (want one of {sorted(schema.STREAMS)})")
    m = _PART_RE.match(path.name)
    if not m:
        raise SchemaError(f"{stream}: {path}: file name is not part-<first id>-<last id>.parquet")
    hour = _partition_hour(path, stream)
    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as e:
        raise SchemaError(f"{stream}: {path}: not a readable Parquet file: {e}") from e
    meta = {k.decode(): v.decode() for k, v in (pf.schema_arrow.metadata or {}).items()}
    if not meta:
        meta = {k.decode(): v.decode() for k, v in (pf.metadata.metadata or {}).items()}
    want_schema = schema.STREAMS[stream]
    version = meta.get(schema.META_SCHEMA_VERSION)
    if version is None:
        raise SchemaVersionError(f"{stream}: {path}: footer has no {schema.META_SCHEMA_VERSION} (not written by sink?)")
    if meta.get(schema.META_SCHEMA) != want_schema or meta.get(schema.META_STREAM) != stream:
        raise SchemaVersionError(
            f"{stream}: {path}: footer says stream {meta.get(schema.META_STREAM)!r} schema {meta.get(schema.META_SCHEMA)!r},"
            f" want stream {stream!r} schema {want_schema!r}"
        )
    if version != schema.SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{stream}: {path}: schema_version {version!r}, this code reads version {schema.SCHEMA_VERSION!r} only"
        )
    first, last = m.group(1), m.group(2)
    if meta.get(schema.META_FIRST_ID) != first or meta.get(schema.META_LAST_ID) != last:
        raise SchemaError(
            f"{stream}: {path}: footer ID range {meta.get(schema.META_FIRST_ID)}..{meta.get(schema.META_LAST_ID)}"
            f" does not match the file name {first}..{last}"
        )
    rows = pf.metadata.num_rows
    if meta.get(schema.META_ROWS) != str(rows):
        raise SchemaError(f"{stream}: {path}: footer says {meta.get(schema.META_ROWS)} rows, the file has {rows}")
    got = {f.name: f.type for f in pf.schema_arrow}
    want = schema.COLUMNS[stream]
    missing = [c for c in want if c not in got]
    wrong = [f"{c} is {got[c]}, want {t}" for c, t in want.items() if c in got and not _same_type(got[c], t)]
    if missing or wrong:
        raise SchemaError(
            f"{stream}: {path}: columns do not follow docs/parquet.md:"
            + (f" missing {missing}" if missing else "")
            + (f" wrong types: {'; '.join(wrong)}" if wrong else "")
        )
    # Column-chunk metadata must name its column: readers that resolve chunks by path (Spark's parquet-mr) fail
    # on a file whose chunks have an empty path_in_schema, even though pyarrow reads it by position.
    md = pf.metadata
    paths = [md.schema.column(i).path for i in range(md.num_columns)]
    for rg in range(md.num_row_groups):
        got_paths = [md.row_group(rg).column(i).path_in_schema for i in range(md.num_columns)]
        if got_paths != paths:
            bad = next(i for i, (a, b) in enumerate(zip(got_paths, paths, strict=True)) if a != b)
            raise SchemaError(
                f"{stream}: {path}: row group {rg} column chunk {bad} has path_in_schema {got_paths[bad]!r}, want"
                f" {paths[bad]!r} (broken footer: Spark cannot read this file)"
            )
    ms = _id_key(first)[0]
    if from_us(ms * 1000).replace(minute=0, second=0, microsecond=0) != hour:
        raise SchemaError(f"{stream}: {path}: first ID {first} is not in the partition hour {hour:%Y-%m-%d %H}h")
    return PartFile(path=path, stream=stream, hour=hour, first_id=first, last_id=last, rows=rows)


def _same_type(got: pa.DataType, want: pa.DataType) -> bool:
    if got == want:
        return True
    # Lists compare by element type: the element field's name (element/item) is the writer's choice.
    if pa.types.is_list(got) and pa.types.is_list(want):
        return bool(got.value_type == want.value_type)
    if pa.types.is_timestamp(got) and pa.types.is_timestamp(want):
        return bool(got.unit == want.unit and got.tz is not None and got.tz.upper() in ("UTC", "+00:00"))
    return False


def list_parts(root: Path, stream: str) -> list[PartFile]:
    """Every complete file of one dataset, validated and ordered by entry ID.

    Names that do not start with ``part-`` (the sink's temporary files) are ignored. Overlapping ID ranges (a
    file written twice, or two writers on one stream) are an error: their rows would count twice.
    """
    d = root / stream
    if not d.is_dir():
        raise MissingPartitionError(f"{stream}: dataset directory {d} does not exist")
    parts = [validate_file(p, stream) for p in sorted(d.glob("dt=*/hour=*/part-*.parquet"))]
    parts.sort(key=lambda p: p.first_key)
    for a, b in itertools.pairwise(parts):
        if b.first_key <= a.last_key:
            raise SchemaError(f"{stream}: files {a.path.name} and {b.path.name} overlap in entry-ID range")
    return parts


def select_parts(parts: Sequence[PartFile], start: datetime, end: datetime) -> list[PartFile]:
    """The files whose ID range (entry time) intersects [start, end)."""
    s, e = to_us(start) // 1000, to_us(end) // 1000
    return [p for p in parts if p.last_key[0] >= s and p.first_key[0] < e]


def check_hours(parts: Sequence[PartFile], stream: str, window: Window) -> None:
    """Every hour the window overlaps must have at least one file (a missing hour is lost data)."""
    present = {p.hour for p in parts}
    missing = [h for h in window.hours() if h not in present]
    if missing:
        names = ", ".join(f"dt={h:%Y-%m-%d}/hour={h:%H}" for h in missing)
        raise MissingPartitionError(
            f"{stream}: no partition for {names} inside window {window}"
            + (f" (files exist for {len(present)} other hours)" if present else " (the dataset has no files)")
        )


def read_parts(parts: Sequence[PartFile], columns: Sequence[str]) -> pa.Table:
    """Read columns of the given files into one table (schema from docs/parquet.md)."""
    if not parts:
        raise EmptyWindowError("no files to read")
    stream = parts[0].stream
    want = schema.COLUMNS[stream]
    fields = [pa.field(c, want[c]) for c in columns]
    tables = []
    for p in parts:
        t = pq.read_table(p.path, columns=list(columns))
        tables.append(t.cast(pa.schema(fields)))
    return pa.concat_tables(tables)


# ---------------------------------------------------------------------------------------------------------------
# Decisions for learning and evaluation

DECISION_READ_COLUMNS: tuple[str, ...] = (
    "entry_id",
    "decision_id",
    "msg_id",
    "room_id",
    "channel",
    "user_id",
    "event_time",
    "broadcaster",
    "moderator",
    "vip",
    "sub_months",
    "first_msg",
    "feature_set",
    "features",
    "snapshot",
    "risk_score",
    "action_deterministic",
    "action_final",
    "action_final_idx",
    "over_budget",
    "decision_path",
    "failure_reason",
    "action_set",
    "explore_eps",
    "explored",
    "behaviour_prob",
    "probs",
)


@dataclass
class Decisions:
    """Decisions of one window as arrays, one row per decision (deduplicated), ordered by (event_time, decision_id).

    Only decisions the deciding policy made are kept: fail-open decisions (feature store down, bad input) were
    forced to IGNORE and say nothing about the policy; they are counted in ``dropped``.
    """

    window: Window
    decision_id: npt.NDArray[np.object_]
    msg_id: npt.NDArray[np.object_]
    channel: npt.NDArray[np.object_]
    event_time_us: npt.NDArray[np.int64]
    features: npt.NDArray[np.float32]  # [n, NUM_FEATURES]
    action: npt.NDArray[np.int64]  # logged action_final_idx
    behaviour_prob: npt.NDArray[np.float64]
    probs: npt.NDArray[np.float64]  # [n, NUM_ACTIONS]
    explore_eps: npt.NDArray[np.float64]
    explored: npt.NDArray[np.bool_]
    # Clamp inputs (decide/internal/clamp Input).
    action_deterministic: npt.NDArray[np.object_]
    risk_score: npt.NDArray[np.float64]
    broadcaster: npt.NDArray[np.bool_]
    moderator: npt.NDArray[np.bool_]
    vip: npt.NDArray[np.bool_]
    sub_months: npt.NDArray[np.int64]
    first_msg: npt.NDArray[np.bool_]
    last_warn_ms: npt.NDArray[np.int64]
    last_action_ms: npt.NDArray[np.int64]
    now_ms: npt.NDArray[np.int64]
    raid_active: npt.NDArray[np.bool_]
    over_budget: npt.NDArray[np.bool_]
    files: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)
    # Filled by attach_rewards.
    reward: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros(0))
    followup: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    reversed: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    reward_version: str = ""

    def __len__(self) -> int:
        return len(self.decision_id)

    def logged_greedy(self) -> npt.NDArray[np.int64]:
        """The behaviour policy's greedy (clamped, not explored) action: action_final unless exploration changed it,
        then the most probable action (the greedy one has probability 1 - eps > eps / k for eps < 0.5)."""
        if len(self) and self.explore_eps.max() >= 0.5:
            raise DataError("explore_eps >= 0.5: the greedy action is not the most probable one")
        return np.where(self.explored, self.probs.argmax(axis=1), self.action).astype(np.int64)

    def take(self, idx: npt.NDArray[np.int64]) -> Decisions:
        """The rows idx (in that order)."""
        n = len(self)
        arrays: dict[str, Any] = {
            k: v[idx] for k, v in self.__dict__.items() if isinstance(v, np.ndarray) and len(v) == n
        }
        return dataclasses.replace(self, **arrays)


def _np(t: pa.Table, col: str) -> npt.NDArray[np.generic]:
    return np.asarray(t.column(col).to_numpy(zero_copy_only=False))


def _fixed_list(t: pa.Table, col: str, width: int, dtype: npt.DTypeLike) -> npt.NDArray[Any]:
    arr = t.column(col).combine_chunks()
    lens = pc.list_value_length(arr).to_numpy(zero_copy_only=False)
    if len(lens) and (lens.min() != width or lens.max() != width):
        bad = int(np.flatnonzero(lens != width)[0])
        raise SchemaError(f"decisions: column {col} has {lens[bad]} values in row {bad}, want {width}")
    flat = np.asarray(arr.flatten().to_numpy(zero_copy_only=False), dtype=dtype)
    return flat.reshape(len(arr), width)


def load_decisions(root: Path, window: Window, *, feature_set: str = schema.FEATURE_SET) -> Decisions:
    """Load, validate and window the decisions dataset under root (the sink's data directory)."""
    parts = list_parts(root, "decisions")
    if not parts:
        raise MissingPartitionError(f"decisions: {root / 'decisions'} has no part-*.parquet files")
    check_hours(parts, "decisions", window)
    # A decision's entry ID (partition) time is after its event_time by the pipeline delay: read a minute more.
    sel = select_parts(parts, window.start, window.end + timedelta(minutes=1))
    if not sel:
        raise EmptyWindowError(f"decisions: window {window} has no decisions (no file has entries in it)")
    t = read_parts(sel, DECISION_READ_COLUMNS)
    et = pc.cast(t.column("event_time"), pa.int64())
    t = t.filter(pc.and_(pc.greater_equal(et, window.start_us), pc.less(et, window.end_us)))
    if t.num_rows == 0:
        raise EmptyWindowError(
            f"decisions: window {window} has no decisions ({sum(p.rows for p in sel)} rows in {len(sel)} files"
            " around it, none with event_time inside)"
        )
    dropped: dict[str, int] = {}
    # Deduplicate by decision_id (a replayed entry): keep the first entry.
    order = pc.sort_indices(t, sort_keys=[("decision_id", "ascending"), ("entry_id", "ascending")])
    t = t.take(order)
    ids = _np(t, "decision_id")
    keep = np.ones(len(ids), dtype=bool)
    keep[1:] = ids[1:] != ids[:-1]
    if (n := int((~keep).sum())) > 0:
        dropped["duplicate_decision_id"] = n
    t = t.filter(pa.array(keep))
    # Versions: one feature set and action set; anything else is a different dataset, not noise.
    for col, want in (("feature_set", feature_set), ("action_set", schema.ACTION_SET)):
        vals = pc.unique(t.column(col)).to_pylist()
        other = [v for v in vals if v not in (want, "")]
        if other:
            raise SchemaVersionError(f"decisions: window {window} has {col} {other}, this code reads {want!r} only")
    fail = pc.not_equal(t.column("failure_reason"), "")
    if (n := int(pc.sum(fail).as_py() or 0)) > 0:
        dropped["fail_open"] = n
        t = t.filter(pc.invert(fail))
    if t.num_rows == 0:
        raise EmptyWindowError(f"decisions: window {window} has only fail-open decisions ({dropped})")
    order = pc.sort_indices(t, sort_keys=[("event_time", "ascending"), ("decision_id", "ascending")])
    t = t.take(order)
    feats = _fixed_list(t, "features", schema.NUM_FEATURES, np.float32)
    if not np.isfinite(feats).all():
        raise SchemaError(f"decisions: window {window} has non-finite state features")
    probs = _fixed_list(t, "probs", schema.NUM_ACTIONS, np.float64)
    snap = _fixed_list(t, "snapshot", schema.SNAPSHOT_LEN, np.int64)
    action = _np(t, "action_final_idx").astype(np.int64)
    if action.min() < 0 or action.max() >= schema.NUM_ACTIONS:
        raise SchemaError(f"decisions: action_final_idx outside 0..{schema.NUM_ACTIONS - 1} in window {window}")
    bprob = _np(t, "behaviour_prob").astype(np.float64)
    if not ((bprob > 0) & (bprob <= 1)).all():
        raise SchemaError(f"decisions: behaviour_prob outside (0, 1] in window {window}")
    if not np.allclose(probs.sum(axis=1), 1.0, atol=1e-6):
        raise SchemaError(f"decisions: probs do not sum to 1 in window {window}")
    if not np.allclose(probs[np.arange(len(action)), action], bprob, atol=1e-9):
        raise SchemaError(f"decisions: behaviour_prob is not probs[action_final_idx] in window {window}")
    return Decisions(
        window=window,
        decision_id=_np(t, "decision_id").astype(object),
        msg_id=_np(t, "msg_id").astype(object),
        channel=_np(t, "channel").astype(object),
        event_time_us=et_np(t),
        features=feats.astype(np.float32),
        action=action,
        behaviour_prob=bprob,
        probs=probs,
        explore_eps=_np(t, "explore_eps").astype(np.float64),
        explored=_np(t, "explored").astype(bool),
        action_deterministic=_np(t, "action_deterministic").astype(object),
        risk_score=_np(t, "risk_score").astype(np.float64),
        broadcaster=_np(t, "broadcaster").astype(bool),
        moderator=_np(t, "moderator").astype(bool),
        vip=_np(t, "vip").astype(bool),
        sub_months=_np(t, "sub_months").astype(np.int64),
        first_msg=_np(t, "first_msg").astype(bool),
        last_warn_ms=snap[:, schema.SNAP_LAST_SYS_WARN_MS].copy(),
        last_action_ms=snap[:, schema.SNAP_LAST_SYS_ACTION_MS].copy(),
        now_ms=et_np(t) // 1000,
        raid_active=snap[:, schema.SNAP_RAID_ACTIVE] != 0,
        over_budget=_np(t, "over_budget").astype(bool),
        files=[str(p.path) for p in sel],
        dropped=dropped,
    )


def et_np(t: pa.Table) -> npt.NDArray[np.int64]:
    """event_time as Unix microseconds."""
    return np.asarray(pc.cast(t.column("event_time"), pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def data_span(root: Path, streams: Iterable[str] = ("decisions",)) -> tuple[datetime, datetime]:
    """The entry-time span [first, last] (from file names, no rows read) covered by the given datasets."""
    lo: int | None = None
    hi: int | None = None
    for s in streams:
        for p in list_parts(root, s):
            lo = p.first_key[0] if lo is None else min(lo, p.first_key[0])
            hi = p.last_key[0] if hi is None else max(hi, p.last_key[0])
    if lo is None or hi is None:
        raise MissingPartitionError(f"no part files under {root} for {list(streams)}")
    return from_us(lo * 1000), from_us(hi * 1000)


# ---------------------------------------------------------------------------------------------------------------
# Writing files in the sink's layout (benchmark replication and tests)


def write_parts(
    root: Path, stream: str, table: pa.Table, *, rows_per_file: int = 200_000, writer: str = "rl"
) -> list[Path]:
    """Write table as sink files of one dataset: split by entry-ID hour and rows_per_file, named, partitioned and
    footed exactly as docs/parquet.md says (zstd, ``streamsafe.*`` metadata). Rows must be in entry-ID order."""
    want = schema.COLUMNS[stream]
    if list(table.column_names) != list(want):
        raise ValueError(f"{stream}: columns {table.column_names} are not docs/parquet.md's {list(want)}")
    table = table.cast(pa.schema([pa.field(c, t, nullable=c in schema.NULLABLE[stream]) for c, t in want.items()]))
    ids = table.column("entry_id").to_pylist()
    keys = [_id_key(i) for i in ids]
    if any(b <= a for a, b in itertools.pairwise(keys)):
        raise ValueError(f"{stream}: entry IDs are not strictly increasing")
    out: list[Path] = []
    start = 0
    n = len(ids)
    while start < n:
        hour = keys[start][0] // 3_600_000
        end = start
        while end < n and end - start < rows_per_file and keys[end][0] // 3_600_000 == hour:
            end += 1
        part = table.slice(start, end - start)
        first, last = ids[start], ids[end - 1]
        h = from_us(hour * 3_600_000_000)
        d = root / stream / f"dt={h:%Y-%m-%d}" / f"hour={h:%H}"
        d.mkdir(parents=True, exist_ok=True)
        meta = {
            schema.META_STREAM: stream,
            schema.META_SCHEMA: schema.STREAMS[stream],
            schema.META_SCHEMA_VERSION: schema.SCHEMA_VERSION,
            schema.META_FIRST_ID: first,
            schema.META_LAST_ID: last,
            schema.META_ROWS: str(part.num_rows),
            schema.META_WRITER: writer,
        }
        part = part.replace_schema_metadata(meta)
        final = d / f"part-{first}-{last}.parquet"
        tmp = d / f".part-{first}-{last}.parquet.tmp"
        pq.write_table(part, tmp, compression="zstd")
        tmp.rename(final)
        out.append(final)
        start = end
    return out


def read_rewards(path: Path) -> pa.Table:
    """The reward table written by the rewards step (``rewards.parquet``, or the directory holding it)."""
    p = path / "rewards.parquet" if path.is_dir() else path
    if not p.is_file():
        raise MissingPartitionError(f"rewards: {p} does not exist (run the rewards step first)")
    t = pq.read_table(p)
    for c in ("decision_id", "reward", "reward_version", "human_followup", "reversed", "label"):
        if c not in t.column_names:
            raise SchemaError(f"rewards: {p} has no column {c}")
    return t


def attach_rewards(dec: Decisions, rewards: pa.Table, *, reward_version: str | None = None) -> Decisions:
    """Join each decision with its reward (by decision_id); decisions whose action was not executed are dropped.

    Every decision must have a reward row: a reward table of another window is an error, not a smaller dataset.
    A window whose decisions carry no human label at all is an error too (nothing to learn or evaluate from).
    """
    versions = pc.unique(rewards.column("reward_version")).to_pylist()
    if len(versions) > 1 or (reward_version is not None and versions and versions[0] != reward_version):
        raise SchemaVersionError(f"rewards: reward_version {versions}, want exactly {reward_version or 'one'}")
    left = pa.table(
        {"decision_id": pa.array(dec.decision_id.tolist(), pa.string()), "_i": pa.array(np.arange(len(dec)))}
    )
    j = left.join(
        rewards.select(["decision_id", "reward", "human_followup", "reversed"]), "decision_id", join_type="inner"
    )
    if j.num_rows != len(dec):
        raise DataError(
            f"rewards: {len(dec) - j.num_rows} of {len(dec)} decisions of window {dec.window} have no reward row"
            " (rewards computed for another window or data directory?)"
        )
    j = j.sort_by("_i")
    reward = j.column("reward").to_numpy(zero_copy_only=False).astype(np.float64)
    ok = ~np.isnan(reward)
    out = dec.take(np.flatnonzero(ok).astype(np.int64))
    out.dropped = dict(dec.dropped)
    if (n := int((~ok).sum())) > 0:
        out.dropped["not_executed"] = n
    out.reward = reward[ok]
    out.followup = np.asarray(j.column("human_followup").to_numpy(zero_copy_only=False), dtype=bool)[ok]
    out.reversed = np.asarray(j.column("reversed").to_numpy(zero_copy_only=False), dtype=bool)[ok]
    out.reward_version = str(versions[0]) if versions else ""
    if len(out) == 0:
        raise EmptyWindowError(f"window {dec.window}: no decision with a usable reward ({out.dropped})")
    if not (out.followup.any() or out.reversed.any()):
        raise NoLabelsError(
            f"window {dec.window} has no human labels: none of its {len(out)} decisions was followed by a human"
            " moderator action or a reversal (simulated moderators off? window too short?)"
        )
    return out
