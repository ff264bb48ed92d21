"""The steps of the loop as functions (the CLI and the tests call these): windows, rewards, train, evaluate,
export, report. Each step reads its inputs from files and writes its outputs to files, so every step can be re-run
on its own and every number traced back to its inputs."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from streamsafe_rl import data
from streamsafe_rl.data import DataError, MissingPartitionError, NoLabelsError, Window

Log = Callable[[str], None]


def sha256_file(p: Path) -> str:
    h = hashlib.sha256()
    with p.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# windows


def split_windows(root: Path, train_frac: float, label_horizon_s: float) -> tuple[Window, Window]:
    """A training window and the later evaluation window from the decisions under root.

    The data span is [first event_time, last event_time + 1 s) minus the label horizon at the end (decisions
    whose labels could not have arrived yet); the first train_frac of it (whole seconds) is for training, the
    rest for evaluation.
    """
    if not 0 < train_frac < 1:
        raise ValueError(f"train fraction {train_frac} not in (0, 1)")
    parts = data.list_parts(root, "decisions")
    if not parts:
        raise MissingPartitionError(f"decisions: {root / 'decisions'} has no part-*.parquet files")
    t = data.read_parts(parts, ["event_time", "failure_reason"])
    et = pc.cast(t.column("event_time"), pa.int64())
    lo_us, hi_us = int(pc.min(et).as_py()), int(pc.max(et).as_py())
    start = data.from_us(lo_us).replace(microsecond=0)
    end_data = data.from_us(hi_us).replace(microsecond=0) + timedelta(seconds=1)
    end = end_data - timedelta(seconds=math.ceil(label_horizon_s))
    span = (end - start).total_seconds()
    if span < 10:
        raise DataError(
            f"decisions: {data.format_time(start)}..{data.format_time(end_data)} is too short for windows with a {label_horizon_s:g} s label horizon"
        )
    cut = start + timedelta(seconds=math.floor(span * train_frac))
    return Window(start, cut), Window(cut, end)


# ---------------------------------------------------------------------------------------------------------------
# rewards


def check_label_coverage(root: Path, window: Window, horizon_s: float) -> dict[str, str]:
    """The mod and executions datasets must exist, and the data must reach past window end + label horizon."""
    spans = {}
    last = None
    for s in ("decisions", "mod", "executions"):
        parts = data.list_parts(root, s)
        if not parts:
            raise MissingPartitionError(f"{s}: {root / s} has no part-*.parquet files (without it there are no labels)")
        sel = data.select_parts(
            parts, window.start - timedelta(hours=1), window.end + timedelta(seconds=horizon_s, hours=1)
        )
        if not sel:
            raise MissingPartitionError(f"{s}: no partition within an hour of window {window}")
        hi = data.from_us(max(p.last_key[0] for p in parts) * 1000)
        spans[s] = (
            f"{data.format_time(data.from_us(min(p.first_key[0] for p in parts) * 1000))}..{data.format_time(hi)}"
        )
        last = hi if last is None else max(last, hi)
    need = window.end + timedelta(seconds=horizon_s)
    assert last is not None
    if last < need:
        raise MissingPartitionError(
            f"labels of window {window} need data until {data.format_time(need)} (window end + {horizon_s:g} s label"
            f" horizon), the data ends at {data.format_time(last)}: end the window earlier or let the pipeline run longer"
        )
    return spans


def run_rewards(
    root: Path,
    window: Window,
    out: Path,
    *,
    miss_window_s: float = 60.0,
    reverse_window_s: float = 120.0,
    echo_tolerance_s: float = 10.0,
    master: str = "local[*]",
    spark: Any = None,
    log: Log = print,
) -> dict[str, Any]:
    """Validate the input files, compute the reward table with Spark, write out/rewards.parquet + rewards.json."""
    from streamsafe_rl import rewards  # PySpark import is slow: only when needed

    t0 = time.monotonic()
    cfg = rewards.RewardConfig(miss_window_s, reverse_window_s, echo_tolerance_s)
    spans = check_label_coverage(root, window, cfg.label_horizon_s())
    dparts = data.list_parts(root, "decisions")
    data.check_hours(dparts, "decisions", window)
    files: dict[str, list[str]] = {}
    horizon = timedelta(seconds=cfg.label_horizon_s())
    for s, lo, hi in (
        ("decisions", window.start, window.end + timedelta(minutes=1)),
        ("mod", window.start, window.end + horizon + timedelta(minutes=1)),
        ("executions", window.start - timedelta(minutes=1), window.end + horizon + timedelta(minutes=1)),
    ):
        sel = data.select_parts(data.list_parts(root, s), lo, hi)
        if not sel:
            raise MissingPartitionError(f"{s}: no file overlaps {data.format_time(lo)}..{data.format_time(hi)}")
        files[s] = [str(p.path) for p in sel]
    if spark is None:
        spark = rewards.spark_session(master)
    df, stats = rewards.compute_rewards(
        spark.read.parquet(*files["decisions"]),
        spark.read.parquet(*files["mod"]),
        spark.read.parquet(*files["executions"]),
        window.start_us,
        window.end_us,
        cfg,
    )
    if stats["decisions"] == 0:
        raise data.EmptyWindowError(f"decisions: window {window} has no decisions")
    if stats["missed"] + stats["reversed"] == 0:
        raise NoLabelsError(
            f"window {window} has no human labels: {stats['human_actions']} human actions and {stats['reversals']}"
            " reversals in the mod data, none attributable to a decision of the window"
        )
    out.mkdir(parents=True, exist_ok=True)
    path = rewards.write_rewards(df, str(out))
    assert path is not None
    meta = {
        "reward_version": rewards.REWARD_VERSION,
        "window": str(window),
        "config": asdict(cfg),
        "stats": stats,
        "sha256": sha256_file(Path(path)),
        "inputs": {s: sorted(Path(f).name for f in fs) for s, fs in files.items()},
        "data_spans": spans,
        "seconds": round(time.monotonic() - t0, 1),
    }
    (out / "rewards.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    log(
        f"rewards: {stats['decisions']} decisions, {stats['missed']} missed, {stats['reversed']} reversed,"
        f" {stats['not_executed']} not executed -> {path} ({meta['seconds']} s)"
    )
    return meta


# ---------------------------------------------------------------------------------------------------------------
# train


def run_train(
    root: Path,
    rewards_dir: Path,
    window: Window,
    runs_dir: Path,
    args: Any,
    *,
    decide_bin: Path | None = None,
    clamp_file: Path | None = None,
    log: Log = print,
) -> Path:
    from streamsafe_rl import clampio, train

    t0 = time.monotonic()
    dec = data.load_decisions(root, window)
    rmeta = json.loads((rewards_dir / "rewards.json").read_text())
    dec = data.attach_rewards(dec, data.read_rewards(rewards_dir), reward_version=rmeta["reward_version"])
    t_load = time.monotonic() - t0
    log(f"train: {len(dec)} decisions in {window} (dropped {dec.dropped}), loaded in {t_load:.1f} s")
    t1 = time.monotonic()
    clamp = clampio.Clamp(decide_bin, clamp_file)
    clamped = clamp.table(clampio.row_prefixes(dec))
    t_clamp = time.monotonic() - t1
    log(f"train: clamp table of {clamp.lines_sent} requests through {clamp.bin} clamp in {t_clamp:.1f} s")
    res = train.train(args, dec, clamped, log=log)
    run_dir = runs_dir / train.run_name(window, dec.reward_version, args.seed)
    meta = train.save_run(
        run_dir,
        res,
        args,
        window,
        dec.reward_version,
        {
            "data": str(root),
            "rewards": {
                "path": str(rewards_dir / "rewards.parquet"),
                "sha256": rmeta["sha256"],
                "window": rmeta["window"],
            },
            "rows": len(dec),
            "dropped": dec.dropped,
            "seconds": {"load": t_load, "clamp": t_clamp, "train": res.info["seconds"], "total": time.monotonic() - t0},
        },
    )
    log(f"train: model {meta['model_hash'][:16]} -> {run_dir}")
    return run_dir


__all__ = ["DataError", "check_label_coverage", "run_rewards", "run_train", "split_windows"]
