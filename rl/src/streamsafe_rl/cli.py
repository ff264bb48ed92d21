"""``python -m streamsafe_rl <step>``: the offline learning loop, one step at a time or all at once.

Steps (each reads files and writes files):

    windows   split the decisions of a data directory into a training and a later evaluation window
    rewards   validate the sink files and compute the reward table with PySpark
    train     offline PPO (BPPO) on the training window -> runs/<window>_<reward version>_seed<seed>/
    evaluate  held-out evaluation: clamp check, WIS/DR with bootstrap CIs, ground truth, drift
    export    ONNX model + metadata + golden vectors, parity-checked against PyTorch
    report    Markdown + PNG report of a run
    all       windows, rewards, train, evaluate, export, report
    bench     replicate pipeline logs to N decisions and time rewards + train + evaluate

Bad input ends with exit status 2 and one line naming the problem.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from streamsafe_rl.data import DataError, Window


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _add_train_args(p: argparse.ArgumentParser) -> None:
    from streamsafe_rl.train import Args

    g = p.add_argument_group("training (Args)")
    for f in dataclasses.fields(Args):
        default = f.default
        g.add_argument(
            "--" + f.name.replace("_", "-"),
            dest="arg_" + f.name,
            type=type(default),
            default=default,
            help=f"{f.metadata.get('help', '')} (default {default})",
        )


def _train_args(ns: argparse.Namespace) -> Any:
    from streamsafe_rl.train import Args

    return Args(**{f.name: getattr(ns, "arg_" + f.name) for f in dataclasses.fields(Args)})


def _add_label_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--miss-window",
        type=float,
        default=60.0,
        help="seconds after a decision in which a human action counts as missed abuse",
    )
    p.add_argument(
        "--reverse-window",
        type=float,
        default=120.0,
        help="seconds after a system timeout in which an unban/untimeout reverses it",
    )
    p.add_argument(
        "--echo-tolerance", type=float, default=10.0, help="seconds between an execution and its echo on the mod stream"
    )
    p.add_argument("--master", default="local[*]", help="Spark master")


def _add_clamp_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--decide-bin",
        type=Path,
        default=None,
        help="decide binary for `decide clamp` (default bin/decide, or $DECIDE_BIN)",
    )
    p.add_argument(
        "--clamp-file",
        type=Path,
        default=None,
        help="clamp limits decide ran with (DECIDE_CLAMP_FILE; default built-in)",
    )


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m streamsafe_rl", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="step", required=True)

    p = sub.add_parser("windows", help="training and evaluation windows of a data directory")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--train-frac", type=float, default=0.7)
    p.add_argument("--label-horizon", type=float, default=120.0, help="seconds at the end without complete labels")

    p = sub.add_parser("rewards", help="reward table with PySpark")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--window", type=Window.parse, required=True)
    p.add_argument("--out", type=Path, required=True)
    _add_label_args(p)

    p = sub.add_parser("train", help="offline PPO (BPPO)")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--rewards", type=Path, required=True, help="output directory of the rewards step")
    p.add_argument("--window", type=Window.parse, required=True)
    p.add_argument("--runs-dir", type=Path, default=Path("runs"))
    _add_clamp_args(p)
    _add_train_args(p)

    p = sub.add_parser("evaluate", help="held-out evaluation")
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--rewards", type=Path, required=True)
    p.add_argument("--window", type=Window.parse, required=True)
    p.add_argument("--truth", type=Path, default=None, help="twitchsim -truth-file output")
    p.add_argument("--n-boot", type=int, default=500)
    p.add_argument("--require-pass", action="store_true", help="exit 1 unless the acceptance passed")
    _add_clamp_args(p)

    p = sub.add_parser("export", help="ONNX export with parity check and golden vectors")
    p.add_argument("--run", type=Path, required=True)

    p = sub.add_parser("report", help="Markdown + PNG report")
    p.add_argument("--run", type=Path, required=True)

    for name, hlp in (("all", "every step"), ("bench", "benchmark on replicated pipeline logs")):
        p = sub.add_parser(name, help=hlp)
        p.add_argument(
            "--data",
            type=Path,
            required=True,
            help="sink data directory" + (" to replicate" if name == "bench" else ""),
        )
        p.add_argument("--truth", type=Path, default=None)
        p.add_argument(
            "--out",
            type=Path,
            required=True,
            help="directory for rewards/ and runs/" + (" and the replicated data" if name == "bench" else ""),
        )
        p.add_argument("--train-frac", type=float, default=0.7)
        p.add_argument("--n-boot", type=int, default=500)
        p.add_argument("--require-pass", action="store_true", help="exit 1 unless the acceptance passed")
        if name == "bench":
            p.add_argument("--rows", type=int, default=1_000_000, help="decisions to replicate the logs to")
        _add_label_args(p)
        _add_clamp_args(p)
        _add_train_args(p)
    return ap


def run_all(ns: argparse.Namespace, data_dir: Path, truth: Path | None) -> dict[str, Any]:
    from streamsafe_rl import evaluate, export, report, steps

    times: dict[str, float] = {}
    t = time.monotonic()
    horizon = max(ns.miss_window, ns.reverse_window)
    tw, ew = steps.split_windows(data_dir, ns.train_frac, horizon)
    full = Window(tw.start, ew.end)
    _log(f"windows: train {tw}, evaluation {ew}")
    rdir = ns.out / "rewards" / full.slug
    steps.run_rewards(
        data_dir,
        full,
        rdir,
        miss_window_s=ns.miss_window,
        reverse_window_s=ns.reverse_window,
        echo_tolerance_s=ns.echo_tolerance,
        master=ns.master,
        log=_log,
    )
    times["rewards"] = time.monotonic() - t
    t = time.monotonic()
    args = _train_args(ns)
    run = steps.run_train(
        data_dir, rdir, tw, ns.out / "runs", args, decide_bin=ns.decide_bin, clamp_file=ns.clamp_file, log=_log
    )
    times["train"] = time.monotonic() - t
    t = time.monotonic()
    m = evaluate.evaluate(
        run,
        data_dir,
        rdir,
        ew,
        truth=truth,
        decide_bin=ns.decide_bin,
        clamp_file=ns.clamp_file,
        n_boot=ns.n_boot,
        seed=args.seed,
        log=_log,
    )
    times["evaluate"] = time.monotonic() - t
    t = time.monotonic()
    md = export.export(run, log=_log)
    times["export"] = time.monotonic() - t
    t = time.monotonic()
    rep = report.report(run, log=_log)
    times["report"] = time.monotonic() - t
    meta = json.loads((run / "train.json").read_text())
    return {
        "run": str(run),
        "train_window": str(tw),
        "eval_window": str(ew),
        "rows": {"train": meta["rows"], "eval": m["rows"]},
        "model_hash": meta["model_hash"],
        "onnx": str(run / "export" / md["model"]),
        "onnx_sha256": md["model_sha256"],
        "report": str(rep),
        "acceptance": m["acceptance"],
        "improvements": {c["metric"]: c["difference"] for c in m["bootstrap"]["comparisons"] if c["improved"]},
        "seconds": {k: round(v, 1) for k, v in times.items()},
    }


def main(argv: list[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    try:
        return _dispatch(ns)
    except DataError as e:
        print(f"streamsafe_rl {ns.step}: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # clamp, parity and config errors: one clear line, no traceback
        from streamsafe_rl.clampio import ClampError
        from streamsafe_rl.evaluate import ClampViolationError
        from streamsafe_rl.export import ParityError

        if isinstance(e, ClampError | ClampViolationError | ParityError | ValueError):
            print(f"streamsafe_rl {ns.step}: {type(e).__name__}: {e}", file=sys.stderr)
            return 2
        raise


def _dispatch(ns: argparse.Namespace) -> int:
    step = ns.step
    if step == "windows":
        from streamsafe_rl import steps

        tw, ew = steps.split_windows(ns.data, ns.train_frac, ns.label_horizon)
        print(json.dumps({"train": str(tw), "eval": str(ew), "train_slug": tw.slug, "eval_slug": ew.slug}))
        return 0
    if step == "rewards":
        from streamsafe_rl import steps

        meta = steps.run_rewards(
            ns.data,
            ns.window,
            ns.out,
            miss_window_s=ns.miss_window,
            reverse_window_s=ns.reverse_window,
            echo_tolerance_s=ns.echo_tolerance,
            master=ns.master,
            log=_log,
        )
        print(json.dumps(meta["stats"] | {"sha256": meta["sha256"]}))
        return 0
    if step == "train":
        from streamsafe_rl import steps

        run = steps.run_train(
            ns.data,
            ns.rewards,
            ns.window,
            ns.runs_dir,
            _train_args(ns),
            decide_bin=ns.decide_bin,
            clamp_file=ns.clamp_file,
            log=_log,
        )
        print(run)
        return 0
    if step == "evaluate":
        from streamsafe_rl import evaluate

        m = evaluate.evaluate(
            ns.run,
            ns.data,
            ns.rewards,
            ns.window,
            truth=ns.truth,
            decide_bin=ns.decide_bin,
            clamp_file=ns.clamp_file,
            n_boot=ns.n_boot,
            log=_log,
        )
        print(json.dumps(m["acceptance"]))
        return 1 if ns.require_pass and not m["acceptance"]["passed"] else 0
    if step == "export":
        from streamsafe_rl import export

        md = export.export(ns.run, log=_log)
        print(json.dumps({"model": md["model"], "model_sha256": md["model_sha256"], "parity": md["parity"]}))
        return 0
    if step == "report":
        from streamsafe_rl import report

        print(report.report(ns.run, log=_log))
        return 0
    if step == "all":
        summary = run_all(ns, ns.data, ns.truth)
        print(json.dumps(summary, indent=2))
        return 1 if ns.require_pass and not summary["acceptance"]["passed"] else 0
    if step == "bench":
        from streamsafe_rl import bench

        t = time.monotonic()
        data_dir, truth = bench.replicate(ns.data, ns.truth, ns.out / "data", ns.rows, log=_log)
        rep_s = time.monotonic() - t
        summary = run_all(ns, data_dir, truth)
        s = summary["seconds"]
        summary["seconds"]["replicate"] = round(rep_s, 1)
        summary["seconds"]["rewards+train+evaluate"] = round(s["rewards"] + s["train"] + s["evaluate"], 1)
        print(json.dumps(summary, indent=2))
        (ns.out / "bench.json").write_text(json.dumps(summary, indent=2) + "\n")
        return 1 if ns.require_pass and not summary["acceptance"]["passed"] else 0
    raise AssertionError(step)
