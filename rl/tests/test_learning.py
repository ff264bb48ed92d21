"""The learning loop on logs of the real pipeline (twitchsim + ingest + decide with exploration + sink):
acceptance on the held-out window, the clamp, determinism, ONNX parity and golden vectors, the report."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from streamsafe_rl import evaluate, export, schema, steps, train

pytestmark = pytest.mark.pipeline


def test_learned_policy_beats_baseline(e2e: Any) -> None:
    m = json.loads((e2e.run / "eval" / "metrics.json").read_text())
    acc = m["acceptance"]
    assert acc["clamp_violations"] == 0
    assert acc["improved_metrics"], json.dumps(m["bootstrap"]["comparisons"], indent=1)
    assert acc["passed"]
    for c in m["bootstrap"]["comparisons"]:
        if c["improved"]:
            d = c["difference"]
            assert (d["lo"] > 0) if c["better"] == "higher" else (d["hi"] < 0)
    # Held out: the evaluation window starts where the training window ends.
    assert e2e.train_window.end == e2e.eval_window.start


def test_clamp_reproduces_the_logs_and_has_the_last_word(e2e: Any) -> None:
    m = json.loads((e2e.run / "eval" / "metrics.json").read_text())
    assert m["clamp"]["logged_greedy_reproduced"] == m["rows"]
    assert m["clamp"]["violations"] == 0
    with np.load(e2e.run / "eval" / "arrays.npz") as z:
        assert len(z["action_policy"]) == m["rows"]
        assert sum(m["drift"]["actions"]["eval_policy"]) == m["rows"]


def test_same_inputs_and_seed_give_the_same_model(e2e: Any, decide_bin: Path, tmp_path: Path) -> None:
    meta = json.loads((e2e.run / "train.json").read_text())
    args = train.Args(**meta["args"])
    run2 = steps.run_train(
        e2e.logs / "data", e2e.rewards, e2e.train_window, tmp_path / "runs", args, decide_bin=decide_bin
    )
    meta2 = json.loads((run2 / "train.json").read_text())
    assert run2.name == e2e.run.name  # named by data window, reward version and seed
    assert meta2["model_hash"] == meta["model_hash"]
    assert meta2["qnet_hash"] == meta["qnet_hash"]
    p1, _, _ = train.load_run(e2e.run)
    p2, _, _ = train.load_run(run2)
    assert hashlib.sha256(export.to_onnx(p1)).digest() == hashlib.sha256(export.to_onnx(p2)).digest()


def test_another_seed_gives_another_run_directory() -> None:
    w = steps.data.Window.parse("2026-11-26T00:00:00Z/2026-11-26T00:01:00Z")
    assert train.run_name(w, "rw-1", 1) == "20261126T000000Z-20261126T000100Z_rw-1_seed1"
    assert train.run_name(w, "rw-1", 2) != train.run_name(w, "rw-1", 1)


def test_onnx_artifact(e2e: Any) -> None:
    exp = e2e.run / "export"
    md_path = next(p for p in exp.glob("policy-*.json") if not p.name.endswith(".golden.json"))
    md = json.loads(md_path.read_text())
    b = (exp / md["model"]).read_bytes()
    assert hashlib.sha256(b).hexdigest() == md["model_sha256"]
    assert md["model"] == f"policy-{md['model_sha256'][:16]}.onnx"
    mp = onnx.load_from_string(b)
    onnx.checker.check_model(mp, full_check=True)
    assert all(o.version >= 17 for o in mp.opset_import if o.domain in ("", "ai.onnx"))
    assert md["feature_set"] == schema.FEATURE_SET and md["action_set"] == schema.ACTION_SET
    assert md["reward_version"] == "rw-1" and md["train_window"] == str(e2e.train_window)
    assert md["eval_window"] == str(e2e.eval_window)
    assert md["metrics"]["acceptance"]["passed"]
    assert md["parity"]["max_abs_diff_logits"] <= 1e-5 and md["parity"]["max_abs_diff_probs"] <= 1e-5
    sess = ort.InferenceSession(b, providers=["CPUExecutionProvider"])
    policy, _, _ = train.load_run(e2e.run)
    for batch in (1, 7):  # dynamic batch axis
        x = np.abs(np.random.default_rng(batch).normal(0, 1, (batch, schema.NUM_FEATURES))).astype(np.float32)
        lo, pr = sess.run(["logits", "probs"], {"state": x})
        assert lo.shape == (batch, schema.NUM_ACTIONS) and pr.shape == (batch, schema.NUM_ACTIONS)
        np.testing.assert_allclose(pr.sum(axis=1), 1.0, atol=1e-6)
        with torch.no_grad():
            tl, tp = train.PolicyWithProbs(policy)(torch.from_numpy(x))
        assert np.abs(lo - tl.numpy()).max() <= 1e-5
        assert np.abs(pr - tp.numpy()).max() <= 1e-5


def test_golden_vectors(e2e: Any) -> None:
    exp = e2e.run / "export"
    g = json.loads(next(exp.glob("policy-*.golden.json")).read_text())
    assert g["input"] == "state" and g["outputs"] == ["logits", "probs"] and g["tolerance"] == 1e-5
    assert g["actions"] == list(schema.ACTIONS)
    sess = ort.InferenceSession((exp / g["model"]).read_bytes(), providers=["CPUExecutionProvider"])
    x = np.array([c["state"] for c in g["cases"]], dtype=np.float32)
    assert x.shape[1] == schema.NUM_FEATURES and len(g["cases"]) >= 10
    lo, pr = sess.run(["logits", "probs"], {"state": x})
    for i, c in enumerate(g["cases"]):
        np.testing.assert_allclose(lo[i], c["logits"], atol=g["tolerance"], rtol=0)
        np.testing.assert_allclose(pr[i], c["probs"], atol=g["tolerance"], rtol=0)
        assert int(lo[i].argmax()) == c["argmax"]
    # The cases cover more than one action of the policy.
    assert len({c["argmax"] for c in g["cases"]}) >= 2


def test_evaluation_is_reproducible(e2e: Any, decide_bin: Path) -> None:
    before = json.loads((e2e.run / "eval" / "metrics.json").read_text())
    after = evaluate.evaluate(
        e2e.run,
        e2e.logs / "data",
        e2e.rewards,
        e2e.eval_window,
        truth=e2e.logs / "truth.jsonl",
        decide_bin=decide_bin,
        log=lambda _: None,
    )
    before.pop("seconds")
    after.pop("seconds")
    assert json.loads(json.dumps(after, sort_keys=True)) == before


def test_evaluation_window_must_follow_training(e2e: Any, decide_bin: Path) -> None:
    with pytest.raises(steps.DataError, match="must start after the training window"):
        evaluate.evaluate(
            e2e.run, e2e.logs / "data", e2e.rewards, e2e.train_window, decide_bin=decide_bin, log=lambda _: None
        )


def test_report(e2e: Any) -> None:
    rep = e2e.run / "report"
    text = (rep / "report.md").read_text()
    assert text.startswith("# Evaluation report")
    assert "**PASSED**" in text
    for png in ("fp_fn.png", "actions.png", "rewards.png", "ope.png"):
        assert f"({png})" in text
        assert (rep / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    m = json.loads((e2e.run / "eval" / "metrics.json").read_text())
    assert f"{m['drift']['psi_logged_train_vs_eval']:.4f}" in text
