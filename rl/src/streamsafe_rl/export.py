"""ONNX export of a trained policy, checked, with golden vectors for decide's Go tests.

The exported graph takes raw fs-1 features (input ``state``, float32 [batch, 44]; the training normalisation is
inside the graph) and returns ``logits`` and ``probs`` (float32 [batch, 6], as-1 order). Opset 18, dynamic
batch axis, weights embedded (one file). Checks: ``onnx.checker`` (full), and ONNX Runtime against PyTorch on
evaluation states, the golden cases and random states: max abs difference <= 1e-5 on both outputs, same argmax.

Artifacts in ``<run>/export/``, named by the sha256 of the ONNX bytes:

* ``policy-<hash16>.onnx``
* ``policy-<hash16>.json``: metadata (data windows, reward version, feature set and names, action set, model
  hashes, opset, I/O names, parity, evaluation metrics and acceptance)
* ``policy-<hash16>.golden.json``: input states and the expected logits, probs and argmax (ONNX Runtime's
  outputs), with the tolerance; for decide's Go tests of its ONNX runtime.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import torch

from streamsafe_rl import schema, train

OPSET = 18
TOLERANCE = 1e-5
INPUT = "state"
OUTPUTS = ("logits", "probs")


class ParityError(Exception):
    """ONNX Runtime and PyTorch disagree beyond the tolerance."""


def to_onnx(policy: train.Policy) -> bytes:
    """The ONNX bytes of policy (deterministic for the same weights and library versions)."""
    m = train.PolicyWithProbs(policy).eval()
    batch = torch.export.Dim("batch", min=1)
    prog = torch.onnx.export(
        m,
        (torch.zeros(2, schema.NUM_FEATURES),),
        None,
        input_names=[INPUT],
        output_names=list(OUTPUTS),
        opset_version=OPSET,
        dynamo=True,
        external_data=False,
        dynamic_shapes=({0: batch},),
        verbose=False,
    )
    assert prog is not None
    proto = prog.model_proto
    proto.producer_name = "streamsafe_rl"
    proto.doc_string = f"StreamSafe-RL policy: {INPUT} float32[batch,{schema.NUM_FEATURES}] ({schema.FEATURE_SET}) -> logits, probs float32[batch,{schema.NUM_ACTIONS}] ({schema.ACTION_SET})"
    return bytes(proto.SerializeToString(deterministic=True))


def check_model(b: bytes) -> onnx.ModelProto:
    mp = onnx.load_from_string(b)
    onnx.checker.check_model(mp, full_check=True)
    if any(o.domain in ("", "ai.onnx") and o.version < 17 for o in mp.opset_import):
        raise ParityError(f"opset {[o.version for o in mp.opset_import]} < 17")
    ins = [i.name for i in mp.graph.input]
    outs = [o.name for o in mp.graph.output]
    if ins != [INPUT] or outs != list(OUTPUTS):
        raise ParityError(f"ONNX I/O {ins} -> {outs}, want {[INPUT]} -> {list(OUTPUTS)}")
    dim0 = mp.graph.input[0].type.tensor_type.shape.dim[0]
    if not dim0.dim_param:
        raise ParityError("ONNX input batch axis is not dynamic")
    return mp


def parity(b: bytes, policy: train.Policy, x: npt.NDArray[np.float32]) -> dict[str, Any]:
    """ONNX Runtime vs PyTorch on x: max abs differences and argmax agreement (raises ParityError beyond 1e-5)."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(b, sess_options=so, providers=["CPUExecutionProvider"])
    lo, pr = sess.run(list(OUTPUTS), {INPUT: x})
    with torch.no_grad():
        tl, tp = train.PolicyWithProbs(policy)(torch.from_numpy(x))
    d_logits = float(np.abs(lo - tl.numpy()).max())
    d_probs = float(np.abs(pr - tp.numpy()).max())
    argmax_agree = float((lo.argmax(-1) == tl.numpy().argmax(-1)).mean())
    out = {
        "rows": len(x),
        "max_abs_diff_logits": d_logits,
        "max_abs_diff_probs": d_probs,
        "argmax_agreement": argmax_agree,
    }
    if d_logits > TOLERANCE or d_probs > TOLERANCE:
        raise ParityError(
            f"ONNX Runtime vs PyTorch: max abs diff logits {d_logits:.3g}, probs {d_probs:.3g} > {TOLERANCE}"
        )
    return out


def _golden_inputs(run_dir: Path, seed: int) -> tuple[list[str], npt.NDArray[np.float32]]:
    names: list[str] = []
    rows: list[npt.NDArray[np.float32]] = []
    arr = run_dir / "eval" / "arrays.npz"
    if arr.is_file():
        with np.load(arr) as z:
            for i, r in enumerate(z["sample_features"]):
                names.append(f"eval-{i}")
                rows.append(r.astype(np.float32))
    names.append("zeros")
    rows.append(np.zeros(schema.NUM_FEATURES, dtype=np.float32))
    rng = np.random.default_rng(seed)
    for i in range(4):
        names.append(f"random-{i}")
        rows.append(np.abs(rng.normal(0, 2, schema.NUM_FEATURES)).astype(np.float32))
    return names, np.stack(rows)


def _parity_inputs(run_dir: Path, golden: npt.NDArray[np.float32], seed: int) -> npt.NDArray[np.float32]:
    parts = [
        golden,
        np.abs(np.random.default_rng(seed + 1).normal(0, 2, (256, schema.NUM_FEATURES))).astype(np.float32),
    ]
    arr = run_dir / "eval" / "arrays.npz"
    if arr.is_file():
        with np.load(arr) as z:
            parts.append(z["parity_features"].astype(np.float32))
    return np.concatenate(parts)


def export(run_dir: Path, log: Any = print) -> dict[str, Any]:
    """Export run_dir's policy; returns the metadata (also written next to the model)."""
    policy, _, meta = train.load_run(run_dir)
    b = to_onnx(policy)
    mp = check_model(b)
    seed = int(meta["args"]["seed"])
    names, golden_x = _golden_inputs(run_dir, seed)
    par = parity(b, policy, _parity_inputs(run_dir, golden_x, seed))
    sha = hashlib.sha256(b).hexdigest()
    stem = f"policy-{sha[:16]}"
    out = run_dir / "export"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("policy-*"):
        old.unlink()
    (out / f"{stem}.onnx").write_bytes(b)

    sess = ort.InferenceSession(b, providers=["CPUExecutionProvider"])
    lo, pr = sess.run(list(OUTPUTS), {INPUT: golden_x})
    golden = {
        "model": f"{stem}.onnx",
        "model_sha256": sha,
        "feature_set": schema.FEATURE_SET,
        "action_set": schema.ACTION_SET,
        "actions": list(schema.ACTIONS),
        "input": INPUT,
        "outputs": list(OUTPUTS),
        "tolerance": TOLERANCE,
        "cases": [
            {
                "name": n,
                "state": [float(v) for v in golden_x[i]],
                "logits": [float(v) for v in lo[i]],
                "probs": [float(v) for v in pr[i]],
                "argmax": int(lo[i].argmax()),
            }
            for i, n in enumerate(names)
        ],
    }
    (out / f"{stem}.golden.json").write_text(json.dumps(golden, indent=1) + "\n")

    metrics_path = run_dir / "eval" / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else None
    md: dict[str, Any] = {
        "model": f"{stem}.onnx",
        "model_sha256": sha,
        "model_hash": meta["model_hash"],
        "golden": f"{stem}.golden.json",
        "opset": OPSET,
        "ir_version": mp.ir_version,
        "input": {"name": INPUT, "dtype": "float32", "shape": ["batch", schema.NUM_FEATURES]},
        "outputs": [{"name": o, "dtype": "float32", "shape": ["batch", schema.NUM_ACTIONS]} for o in OUTPUTS],
        "normalisation": "inside the graph (training mean/std): feed raw fs-1 features",
        "feature_set": schema.FEATURE_SET,
        "feature_names": list(schema.load_feature_set().names),
        "action_set": schema.ACTION_SET,
        "actions": list(schema.ACTIONS),
        "train_window": meta["train_window"],
        "eval_window": metrics["eval_window"] if metrics else None,
        "reward_version": meta["reward_version"],
        "seed": seed,
        "args": meta["args"],
        "parity": par,
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__},
        "metrics": _metrics_summary(metrics) if metrics else None,
    }
    (out / f"{stem}.json").write_text(json.dumps(md, indent=2, sort_keys=True) + "\n")
    log(
        f"export: {out / (stem + '.onnx')} ({len(b)} bytes, opset {OPSET}); ORT vs torch max abs diff logits"
        f" {par['max_abs_diff_logits']:.2g}, probs {par['max_abs_diff_probs']:.2g} on {par['rows']} states; {len(names)} golden cases"
    )
    return md


def _metrics_summary(m: dict[str, Any]) -> dict[str, Any]:
    return {
        "rows": m["rows"],
        "acceptance": m["acceptance"],
        "clamp": m["clamp"],
        "ope": m["ope"],
        "comparisons": {
            c["metric"]: {
                "policy": c["policy"]["value"],
                "baseline": c["baseline"]["value"],
                "difference": c["difference"],
                "improved": c["improved"],
            }
            for c in m["bootstrap"]["comparisons"]
        },
        "drift": {k: v for k, v in m["drift"].items() if k.startswith("psi")},
    }
