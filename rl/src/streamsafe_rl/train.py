"""Offline PPO on logged moderation decisions, in the spirit of BPPO (Zhuang et al., ICLR 2023).

One file, read top to bottom (CleanRL style): ``Args`` -> seeding -> data -> behaviour cloning -> value
estimate -> clipped PPO updates -> save. Each decision is one step of a contextual bandit: the state is the
logged feature vector (fs-1, 44 float32), the action one of as-1 (IGNORE, WARN, DELETE, TIMEOUT_60/600/3600),
the reward the rewards step's (rw-1). With one step per episode, BPPO's value functions become:

* Q(s, a): a reward model, fitted by regression on the logged (s, a, r) (BPPO's SARSA Q with gamma = 0), as a
  bootstrap ensemble; the policy sees the pessimistic mean - ``q_pessimism`` x std, so it does not chase the
  reward model's errors where the logs are thin;
* V_k(s) = sum_a pi_k(a|s) Q_eff(s, a): the value of the current "old" policy pi_k, exact for a bandit.

Two things make it offline-safe here:

* **The clamp is in the loop.** The action that counts is the one the real clamp (``decide clamp``) turns the
  request into, so Q_eff(s, a) = Q(s, clamp(s, a)). The policy learns that a WARN inside the cooldown is an IGNORE.
* **Support constraint.** A clamped action the behaviour policy never takes in that state (logged probability 0)
  has no data behind its Q; its Q_eff is lowered by ``unsupported_penalty`` (BCQ-style pessimism), which keeps
  the policy where the logs, and so the off-policy estimates, can speak for it.

BPPO proper: pi_0 = pi_beta (behaviour cloning on the logged behaviour distribution ``probs``); each update
maximises the clipped surrogate E_s sum_a pi_k(a|s) min(r_a A_a, clip(r_a, 1-eps, 1+eps) A_a) with
r_a = pi_theta(a|s) / pi_k(a|s) and the advantage A = Q_eff - V_k normalised per batch and weighted
asymmetrically (omega for A > 0, 1 - omega otherwise); eps decays; and pi_k <- pi_theta only when the
doubly-robust estimate of the deployed (greedy, clamped) policy improves on a validation split (the last part of
the training window, by time), which stands in for BPPO's online evaluation gate.

Deterministic on CPU: seeded, torch.use_deterministic_algorithms(True), a fixed thread count, no data-dependent
sampling outside the seeded generator. Same inputs + seed => same model hash.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from streamsafe_rl import schema
from streamsafe_rl.data import Decisions, Window


@dataclass
class Args:
    """Training hyper-parameters (``python -m streamsafe_rl train --help`` lists them as flags)."""

    seed: int = field(default=1, metadata={"help": "seed of every random number generator"})
    threads: int = field(default=1, metadata={"help": "torch CPU threads (fixed for bit-identical results)"})
    hidden: int = field(default=128, metadata={"help": "width of the two hidden layers"})
    batch_size: int = field(default=2048, metadata={"help": "minibatch size of every phase"})
    val_frac: float = field(
        default=0.2, metadata={"help": "last share of the training window (by time) used to gate updates"}
    )
    bc_steps: int = field(default=1500, metadata={"help": "behaviour-cloning steps"})
    bc_lr: float = field(default=1e-3, metadata={"help": "behaviour-cloning learning rate"})
    q_steps: int = field(default=1500, metadata={"help": "reward-model (Q) regression steps"})
    q_members: int = field(default=5, metadata={"help": "Q ensemble size (bootstrap resamples of the rows)"})
    q_pessimism: float = field(default=1.0, metadata={"help": "Q_eff = ensemble mean - q_pessimism x ensemble std"})
    q_lr: float = field(default=1e-3, metadata={"help": "Q learning rate"})
    bppo_steps: int = field(default=600, metadata={"help": "clipped PPO update steps"})
    bppo_lr: float = field(default=1e-4, metadata={"help": "PPO learning rate"})
    clip_eps: float = field(default=0.25, metadata={"help": "initial PPO clip range"})
    clip_decay: float = field(default=0.96, metadata={"help": "clip range decay per gate interval"})
    omega: float = field(default=0.9, metadata={"help": "weight of positive advantages (BPPO's asymmetric weighting)"})
    ent_coef: float = field(default=0.0, metadata={"help": "entropy bonus"})
    max_grad_norm: float = field(default=0.5, metadata={"help": "gradient-norm clip"})
    gate_every: int = field(
        default=25, metadata={"help": "steps between validation gates (pi_k <- pi_theta if better)"}
    )
    unsupported_penalty: float = field(
        default=1.0, metadata={"help": "Q penalty of clamped actions the logs never take"}
    )


# ---------------------------------------------------------------------------------------------------------------
# Networks


class Normalize(nn.Module):
    """(x - mean) / std with the training statistics, stored as buffers so the ONNX model takes raw features."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: npt.NDArray[np.float32], std: npt.NDArray[np.float32]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def mlp(n_in: int, hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(n_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, n_out)
    )


class Policy(nn.Module):
    """pi(a|s): raw fs-1 features in, logits over as-1 out."""

    def __init__(self, mean: npt.NDArray[np.float32], std: npt.NDArray[np.float32], hidden: int) -> None:
        super().__init__()
        self.norm = Normalize(mean, std)
        self.net = mlp(schema.NUM_FEATURES, hidden, schema.NUM_ACTIONS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.norm(x))  # type: ignore[no-any-return]


class PolicyWithProbs(nn.Module):
    """The deployed form: float32 state in, float32 (logits, probs) out, computed in float64 inside.

    Float64 inside makes PyTorch and ONNX Runtime agree to the float32 rounding of the same float64 result (a few
    ulp at most), whatever their matrix-multiply kernels: float32 end to end differs by up to ~1e-5 on logits of
    magnitude 10+. evaluate.py evaluates this module, export.py exports it: one policy, not two.
    """

    def __init__(self, policy: Policy) -> None:
        super().__init__()
        self.policy = copy.deepcopy(policy).double().eval()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.policy(x.double())
        return logits.float(), torch.softmax(logits, dim=-1).float()


class QNet(nn.Module):
    """Q(s, .): expected reward of each action (a reward model: the bandit Q), as an ensemble of ``members`` MLPs
    each fitted on its own bootstrap resample of the rows. forward is the ensemble mean; ``members_q`` gives every
    member, whose spread is the uncertainty used for pessimism."""

    def __init__(
        self, mean: npt.NDArray[np.float32], std: npt.NDArray[np.float32], hidden: int, members: int = 1
    ) -> None:
        super().__init__()
        self.norm = Normalize(mean, std)
        self.nets = nn.ModuleList(mlp(schema.NUM_FEATURES, hidden, schema.NUM_ACTIONS) for _ in range(members))

    def members_q(self, x: torch.Tensor) -> torch.Tensor:
        """[members, batch, actions]"""
        z = self.norm(x)
        return torch.stack([net(z) for net in self.nets])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.members_q(x).mean(dim=0)


def model_hash(m: nn.Module) -> str:
    """sha256 over the state dict (names, dtypes, shapes and raw bytes, in name order)."""
    h = hashlib.sha256()
    for k, v in sorted(m.state_dict().items()):
        t = v.detach().cpu().contiguous()
        h.update(k.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# Off-policy value of the deployed policy (shared with evaluate.py)


def greedy_final(policy: Policy, x: torch.Tensor, clamped: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The deployed policy: argmax of the logits, then the clamp (clamped table of the rows)."""
    with torch.no_grad():
        raw = policy(x).argmax(dim=-1).numpy()
    return np.asarray(clamped[np.arange(len(raw)), raw], dtype=np.int64)


def dr_value(
    final: npt.NDArray[np.int64],
    logged: npt.NDArray[np.int64],
    pb: npt.NDArray[np.float64],
    reward: npt.NDArray[np.float64],
    q: npt.NDArray[np.float64],
) -> float:
    """Doubly-robust value of a deterministic policy that takes final[i]: mean(q(s, pi) + w (r - q(s, a)))."""
    n = len(final)
    w = (final == logged) / pb
    return float(np.mean(q[np.arange(n), final] + w * (reward - q[np.arange(n), logged])))


# ---------------------------------------------------------------------------------------------------------------
# Training


@dataclass
class TrainResult:
    policy: Policy
    qnet: QNet
    info: dict[str, Any]


def seed_everything(seed: int, threads: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def train(args: Args, dec: Decisions, clamped: npt.NDArray[np.int64], log: Any = print) -> TrainResult:
    """Train on the decisions of the training window (with rewards attached) and their clamp table."""
    t0 = time.monotonic()
    g = seed_everything(args.seed, args.threads)
    n = len(dec)
    if n < 100:
        raise ValueError(f"only {n} usable decisions in the training window; need at least 100")
    n_val = max(1, int(n * args.val_frac))
    tr = np.arange(n - n_val)
    va = np.arange(n - n_val, n)  # rows are in event_time order: validation is the latest part

    x_all = torch.from_numpy(dec.features)
    mean = dec.features[tr].mean(axis=0).astype(np.float32)
    std = dec.features[tr].std(axis=0).astype(np.float32)
    std[std < 1e-6] = 1.0
    probs_b = torch.from_numpy(dec.probs.astype(np.float32))
    act = torch.from_numpy(dec.action)
    rew = torch.from_numpy(dec.reward.astype(np.float32))
    clamped_t = torch.from_numpy(clamped)
    supported = torch.gather(probs_b, 1, clamped_t) > 0  # [n, A]: the clamped request has behaviour support

    def batches(rows: npt.NDArray[np.int64], steps: int) -> Any:
        idx = torch.from_numpy(rows)
        for _ in range(steps):
            yield idx[torch.randint(len(rows), (min(args.batch_size, len(rows)),), generator=g)]

    # 1. Behaviour cloning: pi_beta from the logged behaviour distribution (soft targets).
    policy = Policy(mean, std, args.hidden)
    opt = torch.optim.Adam(policy.parameters(), lr=args.bc_lr)
    bc_loss = float("nan")
    for b in batches(tr, args.bc_steps):
        logp = torch.log_softmax(policy(x_all[b]), dim=-1)
        loss = -(probs_b[b] * logp).sum(dim=-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        bc_loss = float(loss.detach())
    with torch.no_grad():
        bc_match = float((policy(x_all[va]).argmax(-1) == torch.from_numpy(dec.probs[va].argmax(-1))).float().mean())
    log(
        f"bc: {args.bc_steps} steps, loss {bc_loss:.4f}, greedy matches the logged greedy on {bc_match:.1%} of validation"
    )

    # 2. Value estimate: the reward model Q(s, a) on the logged actions, an ensemble on bootstrap resamples
    #    (Poisson(1) row weights per member) whose spread says where the logs are too thin to trust it.
    qnet = QNet(mean, std, args.hidden, args.q_members)
    boot_w = torch.poisson(torch.ones(args.q_members, n), generator=g)
    opt = torch.optim.Adam(qnet.parameters(), lr=args.q_lr)
    q_loss = float("nan")
    for b in batches(tr, args.q_steps):
        qa = qnet.members_q(x_all[b]).gather(2, act[b].expand(args.q_members, -1)[..., None]).squeeze(2)
        w = boot_w[:, b]
        loss = ((w * (qa - rew[b]) ** 2).sum(dim=1) / w.sum(dim=1).clamp_min(1.0)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        q_loss = float(loss.detach()) / args.q_members
    with torch.no_grad():
        q_va = qnet(x_all[va]).gather(1, act[va, None]).squeeze(1)
        q_val_mse = float(((q_va - rew[va]) ** 2).mean())
        r_var = float(rew[va].var())
    log(
        f"q: {args.q_steps} steps, train mse {q_loss:.4f}, validation mse {q_val_mse:.4f} (reward variance {r_var:.4f})"
    )

    with torch.no_grad():
        qm = qnet.members_q(x_all)
        q_all = qm.mean(dim=0).double().numpy()
        q_std = qm.std(dim=0) if args.q_members > 1 else torch.zeros_like(qm[0])
    pb_logged = dec.behaviour_prob

    def gate_value(p: Policy) -> float:
        fin = greedy_final(p, x_all[va], clamped[va])
        return dr_value(fin, dec.action[va], pb_logged[va], dec.reward[va], q_all[va])

    # 3. BPPO: clipped PPO updates from pi_0 = pi_beta, pi_k replaced only when the gate improves.
    old = copy.deepcopy(policy)
    for prm in old.parameters():
        prm.requires_grad_(False)
    best = gate_value(old)
    start_value = best
    baseline_value = dr_value(dec.logged_greedy()[va], dec.action[va], pb_logged[va], dec.reward[va], q_all[va])
    log(f"bppo: validation DR value: logged greedy {baseline_value:.4f}, pi_0 (BC, greedy+clamp) {best:.4f}")
    opt = torch.optim.Adam(policy.parameters(), lr=args.bppo_lr)
    eps = args.clip_eps
    q_t = torch.from_numpy(q_all.astype(np.float32)) - args.q_pessimism * q_std
    accepted = 0
    history = []
    for step, b in enumerate(batches(tr, args.bppo_steps), start=1):
        with torch.no_grad():
            pk = torch.softmax(old(x_all[b]), dim=-1)
            q_eff = torch.gather(q_t[b], 1, clamped_t[b]) - args.unsupported_penalty * (~supported[b]).float()
            v = (pk * q_eff).sum(-1, keepdim=True)
            adv = (q_eff - v) / ((q_eff - v).std() + 1e-8)
            adv = torch.where(adv > 0, args.omega, 1.0 - args.omega) * adv
        logits = policy(x_all[b])
        p = torch.softmax(logits, dim=-1)
        ratio = p / pk.clamp_min(1e-8)
        surr = torch.minimum(ratio * adv, torch.clamp(ratio, 1.0 - eps, 1.0 + eps) * adv)
        ent = -(p * torch.log_softmax(logits, dim=-1)).sum(-1).mean()
        loss = -(pk * surr).sum(-1).mean() - args.ent_coef * ent
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(policy.parameters(), args.max_grad_norm)
        opt.step()
        if step % args.gate_every == 0 or step == args.bppo_steps:
            val = gate_value(policy)
            ok = val > best
            history.append({"step": step, "val_dr": val, "accepted": ok, "clip_eps": eps})
            if ok:
                best = val
                old.load_state_dict(policy.state_dict())
                accepted += 1
            eps = max(0.05, eps * args.clip_decay)
    log(
        f"bppo: {args.bppo_steps} steps, {accepted} of {len(history)} gates accepted, validation DR {start_value:.4f} -> {best:.4f}"
    )

    final = Policy(mean, std, args.hidden)
    final.load_state_dict(old.state_dict())
    final.eval()
    info = {
        "rows": {"train": len(tr), "validation": len(va)},
        "bc": {"loss": bc_loss, "greedy_match_validation": bc_match},
        "q": {"train_mse": q_loss, "validation_mse": q_val_mse, "validation_reward_var": r_var},
        "bppo": {
            "validation_dr_logged_greedy": baseline_value,
            "validation_dr_bc": start_value,
            "validation_dr_final": best,
            "accepted": accepted,
            "gates": history,
        },
        "supported_share": float(supported.float().mean()),
        "seconds": time.monotonic() - t0,
    }
    return TrainResult(policy=final, qnet=qnet, info=info)


# ---------------------------------------------------------------------------------------------------------------
# Run directories


def run_name(window: Window, reward_version: str, seed: int) -> str:
    """Run directories are named by data window, reward version and seed."""
    return f"{window.slug}_{reward_version}_seed{seed}"


def save_run(
    run_dir: Path, res: TrainResult, args: Args, window: Window, reward_version: str, extra: dict[str, Any]
) -> dict[str, Any]:
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.save(res.policy.state_dict(), run_dir / "policy.pt")
    torch.save(res.qnet.state_dict(), run_dir / "qnet.pt")
    meta = {
        "train_window": str(window),
        "reward_version": reward_version,
        "feature_set": schema.FEATURE_SET,
        "action_set": schema.ACTION_SET,
        "actions": list(schema.ACTIONS),
        "args": dataclasses.asdict(args),
        "model_hash": model_hash(res.policy),
        "qnet_hash": model_hash(res.qnet),
        "torch": torch.__version__,
        **extra,
        "train": res.info,
    }
    (run_dir / "train.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


def load_run(run_dir: Path) -> tuple[Policy, QNet, dict[str, Any]]:
    meta = json.loads((run_dir / "train.json").read_text())
    hidden = int(meta["args"]["hidden"])
    z = np.zeros(schema.NUM_FEATURES, dtype=np.float32)
    o = np.ones(schema.NUM_FEATURES, dtype=np.float32)
    policy = Policy(z, o, hidden)
    policy.load_state_dict(torch.load(run_dir / "policy.pt", weights_only=True))
    policy.eval()
    qnet = QNet(z, o, hidden, int(meta["args"].get("q_members", 1)))
    qnet.load_state_dict(torch.load(run_dir / "qnet.pt", weights_only=True))
    qnet.eval()
    if model_hash(policy) != meta["model_hash"]:
        raise ValueError(f"{run_dir}/policy.pt does not match the model_hash in train.json")
    return policy, qnet, meta
