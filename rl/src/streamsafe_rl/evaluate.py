"""Held-out evaluation of a trained run against the deterministic baseline.

On a later window than the training one:

* **Safety first.** The learned policy's greedy action is sent through the real clamp (``decide clamp``); the
  clamped action is the policy that is evaluated. Then every clamped action is sent through the clamp again as a
  request: a *violation* is one the clamp would still change (zero allowed). Before that, the clamp must
  reproduce the logged greedy action of every decision from the logged inputs (proves the clamp limits and the
  input mapping are the ones decide ran with).
* **Off-policy estimates** from the logged behaviour probabilities: weighted importance sampling (WIS,
  self-normalised) and doubly robust (DR, with the run's reward model), each with a bootstrap confidence interval
  and the effective sample size ESS = (sum w)^2 / sum w^2, for the learned policy, the baseline (the logged greedy
  action) and their difference; plus FN/FP proxies from the labels (WIS rate of human follow-ups and reversals).
* **Ground truth** where the simulator wrote it (``twitchsim -truth-file``): true positives, false positives,
  false negatives, precision, recall and F1 of "actioned (not IGNORE)" against "abusive", for the baseline and the
  policy, with paired bootstrap intervals of the differences.
* **Drift**: PSI of the action distribution between the training and evaluation windows (logged actions) and
  between the baseline and the policy (evaluation window).

Caveat, stated in the report: counterfactual actions change later states (feature-store history, human moderator
behaviour) which one-step estimates do not model.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj
import torch

from streamsafe_rl import clampio, data, schema, train
from streamsafe_rl.data import DataError, Window


class ClampViolationError(Exception):
    """The clamp would still change an action the evaluated policy takes, or does not reproduce the logs."""


# ---------------------------------------------------------------------------------------------------------------
# Ground truth


def load_truth(path: Path) -> tuple[pa.Array, npt.NDArray[np.bool_]]:
    """msg_id and abusive of every line of a twitchsim truth file (JSON lines, see shared/twitchsim/truth.go)."""
    if not path.is_file():
        raise DataError(f"truth: {path} does not exist")
    opts = pj.ParseOptions(
        explicit_schema=pa.schema([pa.field("msg_id", pa.string()), pa.field("abusive", pa.bool_())]),
        unexpected_field_behavior="ignore",
    )
    try:
        t = pj.read_json(path, parse_options=opts, read_options=pj.ReadOptions(block_size=16 << 20))
    except pa.ArrowInvalid as e:
        raise DataError(f"truth: {path} is not twitchsim truth JSON lines: {e}") from e
    if t.num_rows == 0:
        raise DataError(f"truth: {path} is empty")
    return t.column("msg_id").combine_chunks(), np.asarray(
        t.column("abusive").to_numpy(zero_copy_only=False), dtype=bool
    )


def truth_for(
    msg_ids: npt.NDArray[np.object_], truth_ids: pa.Array, abusive: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """(has_truth, abusive) per decision."""
    idx = pc.index_in(pa.array(msg_ids.tolist(), pa.string()), value_set=truth_ids).to_numpy(zero_copy_only=False)
    has = ~np.isnan(idx.astype(np.float64))
    out = np.zeros(len(msg_ids), dtype=bool)
    out[has] = abusive[idx[has].astype(np.int64)]
    return has, out


# ---------------------------------------------------------------------------------------------------------------
# Estimators


def psi(p_counts: npt.NDArray[np.float64], q_counts: npt.NDArray[np.float64], floor: float = 1e-4) -> float:
    """Population stability index sum (p - q) ln(p / q) of two count vectors over the same bins."""
    p = np.maximum(p_counts / max(p_counts.sum(), 1), floor)
    q = np.maximum(q_counts / max(q_counts.sum(), 1), floor)
    return float(np.sum((p - q) * np.log(p / q)))


def ess(w: npt.NDArray[np.float64]) -> float:
    s2 = float(np.sum(w * w))
    return float(np.sum(w)) ** 2 / s2 if s2 > 0 else 0.0


@dataclass(frozen=True)
class Interval:
    value: float
    lo: float
    hi: float

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "lo": self.lo, "hi": self.hi}


# Per-row columns whose (resampled) sums make every statistic.
_COLS = (
    "r",
    "we",
    "we_r",
    "wb",
    "wb_r",
    "dr_e",
    "dr_b",
    "we_fu",
    "we_rev",
    "wb_fu",
    "wb_rev",
    "one",
    "has_truth",
    "tp_e",
    "fp_e",
    "fn_e",
    "tp_b",
    "fp_b",
    "fn_b",
)


def _div(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def _stats(s: npt.NDArray[np.float64]) -> dict[str, npt.NDArray[np.float64]]:
    """Statistics from column sums s[..., len(_COLS)] (works on one row of sums or a batch of them)."""
    c = {k: s[..., i] for i, k in enumerate(_COLS)}
    n = c["one"]
    out: dict[str, npt.NDArray[np.float64]] = {}
    out["logged_value"] = c["r"] / n
    out["wis_policy"] = _div(c["we_r"], c["we"])
    out["wis_baseline"] = _div(c["wb_r"], c["wb"])
    out["dr_policy"] = c["dr_e"] / n
    out["dr_baseline"] = c["dr_b"] / n
    out["fn_proxy_policy"] = _div(c["we_fu"], c["we"])
    out["fn_proxy_baseline"] = _div(c["wb_fu"], c["wb"])
    out["fp_proxy_policy"] = _div(c["we_rev"], c["we"])
    out["fp_proxy_baseline"] = _div(c["wb_rev"], c["wb"])
    for who in ("e", "b"):
        name = "policy" if who == "e" else "baseline"
        tp, fp, fn = c[f"tp_{who}"], c[f"fp_{who}"], c[f"fn_{who}"]
        out[f"truth_tp_{name}"] = tp
        out[f"truth_fp_{name}"] = fp
        out[f"truth_fn_{name}"] = fn
        prec = _div(tp, tp + fp)
        rec = _div(tp, tp + fn)
        out[f"truth_precision_{name}"] = prec
        out[f"truth_recall_{name}"] = rec
        out[f"truth_f1_{name}"] = _div(2 * prec * rec, prec + rec)
    return out


# (metric, better direction): the comparisons that can show an improvement over the baseline.
COMPARISONS: tuple[tuple[str, str], ...] = (
    ("dr", "higher"),
    ("wis", "higher"),
    ("fn_proxy", "lower"),
    ("fp_proxy", "lower"),
    ("truth_fp", "lower"),
    ("truth_fn", "lower"),
    ("truth_precision", "higher"),
    ("truth_recall", "higher"),
    ("truth_f1", "higher"),
)


def bootstrap(cols: npt.NDArray[np.float64], n_boot: int, seed: int, alpha: float = 0.05) -> dict[str, Any]:
    """Point estimates and percentile bootstrap intervals of every statistic and policy-minus-baseline difference.

    Resamples rows with replacement (paired: the policy and the baseline are evaluated on the same resample)."""
    n = cols.shape[0]
    point = _stats(cols.sum(axis=0))
    rng = np.random.default_rng(seed)
    sums = np.empty((n_boot, cols.shape[1]))
    chunk = 32
    for lo in range(0, n_boot, chunk):
        hi = min(n_boot, lo + chunk)
        counts = np.stack([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(hi - lo)]).astype(np.float64)
        sums[lo:hi] = counts @ cols
    boots = _stats(sums)

    def iv(p: float, b: npt.NDArray[np.float64]) -> dict[str, float]:
        b = b[np.isfinite(b)]
        if len(b) == 0 or not np.isfinite(p):
            return {"value": float(p), "lo": float("nan"), "hi": float("nan")}
        return {"value": float(p), "lo": float(np.quantile(b, alpha / 2)), "hi": float(np.quantile(b, 1 - alpha / 2))}

    est = {k: iv(float(point[k]), boots[k]) for k in point}
    comps = []
    for metric, better in COMPARISONS:
        kp, kb = f"{metric}_policy", f"{metric}_baseline"
        if kp not in point:
            continue
        d = iv(float(point[kp] - point[kb]), boots[kp] - boots[kb])
        improved = bool(
            np.isfinite(d["lo"]) and ((better == "higher" and d["lo"] > 0) or (better == "lower" and d["hi"] < 0))
        )
        comps.append(
            {
                "metric": metric,
                "better": better,
                "policy": est[kp],
                "baseline": est[kb],
                "difference": d,
                "improved": improved,
            }
        )
    return {"estimates": est, "comparisons": comps, "n_boot": n_boot, "alpha": alpha, "seed": seed}


# ---------------------------------------------------------------------------------------------------------------
# The evaluation


def evaluate(
    run_dir: Path,
    root: Path,
    rewards_dir: Path,
    window: Window,
    *,
    truth: Path | None = None,
    decide_bin: Path | None = None,
    clamp_file: Path | None = None,
    n_boot: int = 500,
    seed: int = 1,
    log: Any = print,
) -> dict[str, Any]:
    """Evaluate run_dir on window; writes run_dir/eval/metrics.json and arrays for the report. Returns the metrics."""
    t0 = time.monotonic()
    policy, qnet, meta = train.load_run(run_dir)
    train_window = Window.parse(meta["train_window"])
    if window.start < train_window.end:
        raise DataError(f"evaluation window {window} must start after the training window {train_window} ends")
    dec = data.load_decisions(root, window)
    dec = data.attach_rewards(dec, data.read_rewards(rewards_dir), reward_version=meta["reward_version"])
    n = len(dec)
    log(f"evaluate: {n} decisions in {window} (dropped {dec.dropped})")

    # Safety: the real clamp, from the logged inputs.
    clamp = clampio.Clamp(decide_bin, clamp_file)
    pre = clampio.row_prefixes(dec)
    greedy_logged = dec.logged_greedy()
    base = clamp.apply(pre, [str(a) for a in dec.action_deterministic]).final
    mismatch = int((base != greedy_logged).sum())
    if mismatch:
        i = int(np.flatnonzero(base != greedy_logged)[0])
        raise ClampViolationError(
            f"decide clamp does not reproduce {mismatch} of {n} logged greedy actions (first: decision"
            f" {dec.decision_id[i]}: clamp says {schema.ACTIONS[base[i]]}, logged {schema.ACTIONS[greedy_logged[i]]});"
            " is DECIDE_CLAMP_FILE the clamp configuration decide ran with?"
        )
    x = torch.from_numpy(dec.features)
    deployed = train.PolicyWithProbs(policy)
    with torch.no_grad():
        logits, _ = deployed(x)
        raw = logits.argmax(-1).numpy().astype(np.int64)
        q = qnet(x).double().numpy()
    res = clamp.apply(pre, [schema.ACTIONS[a] for a in raw], with_rules=True)
    final = res.final
    assert res.rules is not None
    changed = final != raw
    rule_counts = Counter(r for i in np.flatnonzero(changed) for r in res.rules[int(i)])
    check = clamp.apply(pre, [schema.ACTIONS[a] for a in final]).final
    violations = int((check != final).sum())
    log(
        f"evaluate: clamp reproduced all {n} logged greedy actions; changed {int(changed.sum())} policy proposals"
        f" ({dict(rule_counts)}); violations after clamp: {violations}"
    )

    # Off-policy columns.
    a, pb, r = dec.action, dec.behaviour_prob, dec.reward
    rows = np.arange(n)
    we = (final == a) / pb
    wb = (greedy_logged == a) / pb
    dr_e = q[rows, final] + we * (r - q[rows, a])
    dr_b = q[rows, greedy_logged] + wb * (r - q[rows, a])
    support = dec.probs[rows, final] > 0
    has_truth = np.zeros(n, dtype=bool)
    abusive = np.zeros(n, dtype=bool)
    truth_info: dict[str, Any] = {"file": None}
    if truth is not None:
        tids, tab = load_truth(truth)
        has_truth, abusive = truth_for(dec.msg_id, tids, tab)
        truth_info = {
            "file": str(truth),
            "lines": len(tab),
            "matched": int(has_truth.sum()),
            "abusive": int(abusive[has_truth].sum()),
        }
        if has_truth.sum() == 0:
            raise DataError(f"truth: none of the {n} decisions of {window} is in {truth} (truth of another run?)")
    act_e, act_b = final != schema.IGNORE, greedy_logged != schema.IGNORE
    ht = has_truth.astype(np.float64)
    cols = np.stack(
        [
            r,
            we,
            we * r,
            wb,
            wb * r,
            dr_e,
            dr_b,
            we * dec.followup,
            we * dec.reversed,
            wb * dec.followup,
            wb * dec.reversed,
            np.ones(n),
            ht,
            ht * (act_e & abusive),
            ht * (act_e & ~abusive),
            ht * (~act_e & abusive),
            ht * (act_b & abusive),
            ht * (act_b & ~abusive),
            ht * (~act_b & abusive),
        ],
        axis=1,
    ).astype(np.float64)
    if truth is None:
        cols[:, _COLS.index("tp_e") :] = 0
    boot = bootstrap(cols, n_boot, seed)
    if truth is None:
        boot["comparisons"] = [c for c in boot["comparisons"] if not c["metric"].startswith("truth_")]

    # Drift.
    train_dec = data.load_decisions(root, train_window)

    def cnt(v: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        return np.bincount(v, minlength=schema.NUM_ACTIONS).astype(np.float64)

    drift = {
        "psi_logged_train_vs_eval": psi(cnt(train_dec.action), cnt(dec.action)),
        "psi_baseline_vs_policy_eval": psi(cnt(greedy_logged), cnt(final)),
        "actions": {
            "train_logged": cnt(train_dec.action).astype(int).tolist(),
            "eval_logged": cnt(dec.action).astype(int).tolist(),
            "eval_baseline": cnt(greedy_logged).astype(int).tolist(),
            "eval_policy_raw": cnt(raw).astype(int).tolist(),
            "eval_policy": cnt(final).astype(int).tolist(),
        },
    }
    improved = [c["metric"] for c in boot["comparisons"] if c["improved"]]
    metrics: dict[str, Any] = {
        "run": run_dir.name,
        "model_hash": meta["model_hash"],
        "train_window": meta["train_window"],
        "eval_window": str(window),
        "reward_version": meta["reward_version"],
        "rows": n,
        "dropped": dec.dropped,
        "clamp": {
            "binary": str(clamp.bin),
            "clamp_file": str(clamp_file) if clamp_file else None,
            "logged_greedy_reproduced": n - mismatch,
            "policy_proposals_changed": int(changed.sum()),
            "rules": dict(sorted(rule_counts.items())),
            "violations": violations,
        },
        "ope": {
            "ess_policy": ess(we),
            "ess_baseline": ess(wb),
            "support_policy": float(support.mean()),
            "matches_logged_policy": int((final == a).sum()),
            "matches_logged_baseline": int((greedy_logged == a).sum()),
            "explore_eps": sorted({float(e) for e in np.unique(dec.explore_eps)}),
        },
        "truth": truth_info,
        "bootstrap": boot,
        "drift": drift,
        "acceptance": {
            "improved_metrics": improved,
            "clamp_violations": violations,
            "passed": bool(improved) and violations == 0,
        },
        "seconds": round(time.monotonic() - t0, 1),
    }
    out = run_dir / "eval"
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    # A stratified sample of evaluation states for the ONNX parity check and golden vectors (export step).
    pick = _golden_rows(final, seed)
    np.savez_compressed(
        out / "arrays.npz",
        reward_eval=r,
        reward_train=_train_rewards(train_dec, rewards_dir),
        action_logged=a,
        action_baseline=greedy_logged,
        action_policy=final,
        sample_features=dec.features[pick],
        parity_features=dec.features[np.random.default_rng(seed).permutation(n)[: min(n, 4096)]],
    )
    if violations:
        raise ClampViolationError(f"{violations} clamped policy actions would be changed again by the clamp")
    return metrics


def _train_rewards(train_dec: data.Decisions, rewards_dir: Path) -> npt.NDArray[np.float64]:
    try:
        return data.attach_rewards(train_dec, data.read_rewards(rewards_dir)).reward
    except DataError:
        return np.zeros(0)


def _golden_rows(final: npt.NDArray[np.int64], seed: int, per_action: int = 6) -> npt.NDArray[np.int64]:
    rng = np.random.default_rng(seed)
    pick: list[int] = []
    for act in range(schema.NUM_ACTIONS):
        idx = np.flatnonzero(final == act)
        if len(idx):
            pick.extend(rng.choice(idx, size=min(per_action, len(idx)), replace=False).tolist())
    return np.array(sorted(pick), dtype=np.int64)
