"""Shared fixtures: one SparkSession per test session, the decide binary, and logs of the REAL pipeline.

pipeline_logs runs ``scripts/train.sh --logs-only --quick`` once per session (twitchsim with simulated human
moderators and its truth file, ingest, decide with exploration, sink: bin/ must be built, `make build`), or uses
the directory in $RL_PIPELINE_LOGS (a previous ``train.sh --out`` or its logs/) to save the ~90 s.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from streamsafe_rl import schema

ROOT = schema.repo_root()
# Label windows matching train.sh's simulated moderators (5 s miss and reverse delays).
MISS_WINDOW, REVERSE_WINDOW = 15.0, 20.0


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from streamsafe_rl import rewards

    s = rewards.spark_session("local[2]", app="streamsafe-rl-tests", shuffle_partitions=4)
    yield s
    s.stop()


@pytest.fixture(scope="session")
def decide_bin() -> Path:
    p = Path(os.environ.get("DECIDE_BIN", str(ROOT / "bin" / "decide")))
    if not os.access(p, os.X_OK):
        pytest.fail(f"{p} missing: run `make build` (or set DECIDE_BIN)")
    return p


@pytest.fixture(scope="session")
def pipeline_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A logs directory (data/ in the sink layout + truth.jsonl) produced by the real pipeline."""
    env = os.environ.get("RL_PIPELINE_LOGS")
    if env:
        p = Path(env)
        p = p / "logs" if (p / "logs" / "data").is_dir() else p
        assert (p / "data").is_dir() and (p / "truth.jsonl").is_file(), (
            f"RL_PIPELINE_LOGS={env} has no data/ and truth.jsonl"
        )
        return p
    out = tmp_path_factory.mktemp("pipeline")
    for b in ("twitchsim", "ingest", "decide", "sink"):
        if not os.access(ROOT / "bin" / b, os.X_OK) and not os.environ.get("TRAIN_BIN"):
            pytest.fail(f"bin/{b} missing: run `make build` (the learning tests need logs of the real pipeline)")
    r = subprocess.run(
        [str(ROOT / "scripts" / "train.sh"), "--logs-only", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, f"train.sh --logs-only failed:\n{r.stderr[-4000:]}"
    return out / "logs"


@dataclass
class E2E:
    logs: Path
    out: Path
    run: Path
    rewards: Path
    summary: dict[str, Any]
    train_window: Any
    eval_window: Any


@pytest.fixture(scope="session")
def e2e(pipeline_logs: Path, spark: Any, decide_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> E2E:
    """The whole loop (windows, rewards, train, evaluate, export, report) on the pipeline logs, once."""
    from streamsafe_rl import cli

    out = tmp_path_factory.mktemp("e2e")
    ns = cli.build_parser().parse_args(
        [
            "all",
            "--data",
            str(pipeline_logs / "data"),
            "--truth",
            str(pipeline_logs / "truth.jsonl"),
            "--out",
            str(out),
            "--miss-window",
            str(MISS_WINDOW),
            "--reverse-window",
            str(REVERSE_WINDOW),
            "--decide-bin",
            str(decide_bin),
        ]
    )
    summary = cli.run_all(ns, pipeline_logs / "data", pipeline_logs / "truth.jsonl")
    from streamsafe_rl.data import Window

    tw, ew = Window.parse(summary["train_window"]), Window.parse(summary["eval_window"])
    rewards_dir = out / "rewards" / Window(tw.start, ew.end).slug
    return E2E(pipeline_logs, out, Path(summary["run"]), rewards_dir, summary, tw, ew)
