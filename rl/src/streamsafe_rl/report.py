"""The evaluation report: Markdown plus PNG plots, from the files the other steps wrote (nothing recomputed from
data, so every number traces back to train.json, rewards.json, eval/metrics.json and eval/arrays.npz)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from streamsafe_rl import schema

BASE_C, POL_C, LOG_C = "#8c8c8c", "#1f77b4", "#ff7f0e"


def _f(x: float | None, nd: int = 4) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    if abs(x) >= 100 and float(x).is_integer():
        return f"{int(x)}"
    return f"{x:.{nd}f}"


def _iv(d: dict[str, float], nd: int = 4) -> str:
    return f"{_f(d['value'], nd)} [{_f(d['lo'], nd)}, {_f(d['hi'], nd)}]"


def _plot_fp_fn(m: dict[str, Any], path: Path) -> None:
    est = m["bootstrap"]["estimates"]
    panels = [("fp_proxy", "FP proxy: reversal rate (WIS)"), ("fn_proxy", "FN proxy: human follow-up rate (WIS)")]
    if m["truth"].get("file"):
        panels += [("truth_fp", "false positives (truth)"), ("truth_fn", "false negatives (truth)")]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.2))
    for ax, (k, title) in zip(np.atleast_1d(axes), panels, strict=True):
        vals, errs = [], []
        for who in ("baseline", "policy"):
            e = est[f"{k}_{who}"]
            vals.append(e["value"])
            errs.append([e["value"] - e["lo"], e["hi"] - e["value"]])
        ax.bar(["baseline", "policy"], vals, color=[BASE_C, POL_C], yerr=np.array(errs).T, capsize=4)
        ax.set_title(title, fontsize=9)
    fig.suptitle("False-positive and false-negative proxies (95% bootstrap CI)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_actions(m: dict[str, Any], path: Path) -> None:
    acts = m["drift"]["actions"]
    series = [
        ("train_logged", "train (logged)", LOG_C),
        ("eval_logged", "eval (logged)", "#ffbb78"),
        ("eval_baseline", "eval baseline", BASE_C),
        ("eval_policy", "eval policy (clamped)", POL_C),
    ]
    x = np.arange(schema.NUM_ACTIONS)
    w = 0.2
    fig, ax = plt.subplots(figsize=(8, 3.4))
    for i, (k, label, c) in enumerate(series):
        v = np.array(acts[k], dtype=float)
        ax.bar(x + (i - 1.5) * w, v / max(v.sum(), 1), w, label=label, color=c)
    ax.set_xticks(x, schema.ACTIONS, fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("share of decisions")
    ax.set_title(
        f"Action distribution; PSI train vs eval {m['drift']['psi_logged_train_vs_eval']:.3f},"
        f" baseline vs policy {m['drift']['psi_baseline_vs_policy_eval']:.3f}",
        fontsize=10,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_rewards(arrays: dict[str, np.ndarray], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.2))
    bins = np.linspace(-1.5, 0.0, 31)
    for k, label, c in (("reward_train", "train window", LOG_C), ("reward_eval", "eval window", POL_C)):
        v = arrays.get(k)
        if v is not None and len(v):
            ax.hist(
                v, bins=bins.tolist(), alpha=0.6, label=f"{label} (n={len(v)}, mean {v.mean():.4f})", color=c, log=True
            )
    ax.set_xlabel("reward (rw-1)")
    ax.set_ylabel("decisions")
    ax.set_title("Reward distribution of the logged decisions", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_ope(m: dict[str, Any], path: Path) -> None:
    est = m["bootstrap"]["estimates"]
    rows = [
        ("logged (behaviour)", est["logged_value"], LOG_C),
        ("baseline WIS", est["wis_baseline"], BASE_C),
        ("baseline DR", est["dr_baseline"], BASE_C),
        ("policy WIS", est["wis_policy"], POL_C),
        ("policy DR", est["dr_policy"], POL_C),
    ]
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for i, (_label, e, c) in enumerate(rows):
        ax.errorbar(
            [e["value"]], [i], xerr=[[e["value"] - e["lo"]], [e["hi"] - e["value"]]], fmt="o", color=c, capsize=4
        )
    ax.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=8)
    ax.set_xlabel("estimated mean reward per decision (95% bootstrap CI)")
    ax.set_title("Off-policy estimates on the held-out window", fontsize=10)
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(run_dir: Path, log: Any = print) -> Path:
    """Write run_dir/report/report.md and its PNGs."""
    m = json.loads((run_dir / "eval" / "metrics.json").read_text())
    t = json.loads((run_dir / "train.json").read_text())
    with np.load(run_dir / "eval" / "arrays.npz") as z:
        arrays = {k: z[k] for k in z.files}
    exp = [p for p in sorted((run_dir / "export").glob("policy-*.json")) if not p.name.endswith(".golden.json")]
    expm = json.loads(exp[0].read_text()) if exp else None
    rmeta_path = Path(t["rewards"]["path"]).parent / "rewards.json"
    rmeta = json.loads(rmeta_path.read_text()) if rmeta_path.is_file() else None
    out = run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    _plot_fp_fn(m, out / "fp_fn.png")
    _plot_actions(m, out / "actions.png")
    _plot_rewards(arrays, out / "rewards.png")
    _plot_ope(m, out / "ope.png")

    est = m["bootstrap"]["estimates"]
    acc = m["acceptance"]
    lines: list[str] = []
    lines.append(f"# Evaluation report: {m['run']}")
    lines.append("")
    verdict = "PASSED" if acc["passed"] else "NOT PASSED"
    lines.append(
        f"**{verdict}**: the learned policy beats the deterministic baseline on {len(acc['improved_metrics'])} metric(s)"
        f" with a 95% interval excluding no improvement ({', '.join(acc['improved_metrics']) or 'none'});"
        f" clamp violations: {acc['clamp_violations']}."
    )
    lines.append("")
    lines.append("## Inputs")
    lines.append("")
    lines.append("| what | value |")
    lines.append("|---|---|")
    lines.append(f"| data directory | `{t['data']}` |")
    lines.append(
        f"| training window | {t['train_window']} ({t['train']['rows']['train']} + {t['train']['rows']['validation']} validation decisions) |"
    )
    lines.append(
        f"| evaluation window | {m['eval_window']} ({m['rows']} decisions; dropped {m['dropped'] or 'none'}) |"
    )
    lines.append(
        f"| rewards | {t['reward_version']}, `{t['rewards']['path']}` sha256 `{t['rewards']['sha256'][:16]}` |"
    )
    lines.append(f"| feature set / action set | {t['feature_set']} / {t['action_set']} |")
    lines.append(f"| seed | {t['args']['seed']} |")
    lines.append(f"| model hash (torch state) | `{t['model_hash'][:16]}` |")
    if expm:
        lines.append(f"| ONNX artifact | `{expm['model']}` (opset {expm['opset']}), golden `{expm['golden']}` |")
    if m["truth"].get("file"):
        lines.append(
            f"| simulator truth | `{m['truth']['file']}` ({m['truth']['matched']} decisions matched, {m['truth']['abusive']} abusive) |"
        )
    lines.append("")
    lines.append(
        "Re-running `python -m streamsafe_rl evaluate` and `report` on the same files reproduces every number below"
        f" (bootstrap: {m['bootstrap']['n_boot']} resamples, seed {m['bootstrap']['seed']})."
    )
    lines.append("")
    lines.append("## Policy vs baseline on the held-out window")
    lines.append("")
    lines.append(
        "Baseline: the deterministic risk policy's clamped action (the logged greedy action). Policy: the learned"
        " policy's greedy action after the real clamp (`decide clamp`). 95% paired bootstrap intervals."
    )
    lines.append("")
    lines.append("| metric | better | baseline | policy | policy - baseline | improved |")
    lines.append("|---|---|---|---|---|---|")
    for c in m["bootstrap"]["comparisons"]:
        nd = 1 if c["metric"] in ("truth_fp", "truth_fn") else 4
        lines.append(
            f"| {c['metric']} | {c['better']} | {_iv(c['baseline'], nd)} | {_iv(c['policy'], nd)} |"
            f" {_iv(c['difference'], nd)} | {'**yes**' if c['improved'] else 'no'} |"
        )
    lines.append("")
    lines.append("![FP/FN](fp_fn.png)")
    lines.append("")
    lines.append("## Off-policy estimates")
    lines.append("")
    o = m["ope"]
    lines.append(
        f"Logged behaviour value (mean reward): {_iv(est['logged_value'])}. Exploration epsilon in the logs: {o['explore_eps']}."
    )
    lines.append("")
    lines.append("| policy | WIS | DR | ESS | decisions where it agrees with the log |")
    lines.append("|---|---|---|---|---|")
    lines.append(
        f"| baseline | {_iv(est['wis_baseline'])} | {_iv(est['dr_baseline'])} | {o['ess_baseline']:.0f} | {o['matches_logged_baseline']} |"
    )
    lines.append(
        f"| policy | {_iv(est['wis_policy'])} | {_iv(est['dr_policy'])} | {o['ess_policy']:.0f} | {o['matches_logged_policy']} |"
    )
    lines.append("")
    lines.append(
        f"Behaviour support of the policy's actions: {o['support_policy']:.2%} of decisions (WIS sees only"
        " logged actions; DR fills the rest with the reward model)."
    )
    lines.append("")
    lines.append("![OPE](ope.png)")
    lines.append("")
    lines.append("## Safety: the clamp")
    lines.append("")
    c = m["clamp"]
    lines.append(
        f"- `{c['binary']} clamp` (limits: {c['clamp_file'] or 'built-in defaults'}) reproduced the logged greedy action of"
        f" {c['logged_greedy_reproduced']} of {m['rows']} decisions from their logged inputs."
    )
    lines.append(
        f"- It changed {c['policy_proposals_changed']} of the policy's proposals; rules: {c['rules'] or 'none'}."
    )
    lines.append(f"- Violations (clamped actions the clamp would still change): **{c['violations']}**.")
    lines.append("")
    lines.append("## Action drift")
    lines.append("")
    d = m["drift"]
    lines.append(
        f"PSI of logged actions, training vs evaluation window: {d['psi_logged_train_vs_eval']:.4f}; baseline vs"
        f" policy on the evaluation window: {d['psi_baseline_vs_policy_eval']:.4f} (< 0.1 small, > 0.25 large)."
    )
    lines.append("")
    lines.append("| action | " + " | ".join(schema.ACTIONS) + " |")
    lines.append("|---|" + "---|" * schema.NUM_ACTIONS)
    for k in ("train_logged", "eval_logged", "eval_baseline", "eval_policy_raw", "eval_policy"):
        lines.append(f"| {k} | " + " | ".join(str(v) for v in d["actions"][k]) + " |")
    lines.append("")
    lines.append("![actions](actions.png)")
    lines.append("")
    lines.append("## Rewards")
    lines.append("")
    if rmeta:
        s = rmeta["stats"]
        lines.append(
            f"{rmeta['reward_version']} over {rmeta['window']}: {s['decisions']} decisions, {s['missed']} missed-abuse labels,"
            f" {s['reversed']} reversals, {s['not_executed']} not executed (excluded), {s['human_actions']} human actions"
            f" and {s['system_echoes']} echoes of the system's own actions in the mod data; windows {rmeta['config']}."
        )
        lines.append("")
    lines.append("![rewards](rewards.png)")
    lines.append("")
    lines.append("## Training")
    lines.append("")
    tb = t["train"]
    lines.append(
        f"Behaviour cloning: loss {tb['bc']['loss']:.4f}, greedy agrees with the logged greedy on"
        f" {tb['bc']['greedy_match_validation']:.1%} of validation. Reward model: validation MSE"
        f" {tb['q']['validation_mse']:.4f} (reward variance {tb['q']['validation_reward_var']:.4f}). BPPO: validation DR"
        f" {tb['bppo']['validation_dr_bc']:.4f} (BC) -> {tb['bppo']['validation_dr_final']:.4f}, {tb['bppo']['accepted']}"
        f" updates accepted."
    )
    if expm:
        p = expm["parity"]
        lines.append("")
        lines.append(
            f"ONNX: ONNX Runtime vs PyTorch max abs difference {p['max_abs_diff_logits']:.2g} (logits),"
            f" {p['max_abs_diff_probs']:.2g} (probs) on {p['rows']} states; argmax agreement {p['argmax_agreement']:.2%}."
        )
    lines.append("")
    lines.append("## Caveats")
    lines.append("")
    lines.append(
        "- One-step (bandit) estimates: a different action would change later states (the feature store's history of"
        " this user, the simulated moderators' behaviour), which neither the estimates nor the truth comparison model."
    )
    lines.append(
        "- Labels are one-sided: a human can only correct what the system left up or wrongly timed out; deletes and"
        " warns of innocent messages are never reversed, so the FP proxy sees reversed timeouts only."
    )
    lines.append(
        "- The policy is kept inside the behaviour support (no harsher action than the rules engine took or could"
        " explore to); it can lower false positives, not raise recall beyond the baseline's."
    )
    (out / "report.md").write_text("\n".join(lines) + "\n")
    log(f"report: {out / 'report.md'}")
    return out / "report.md"
