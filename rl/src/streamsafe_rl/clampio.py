"""The safety clamp, applied by the real Go code: ``decide clamp`` as a batched subprocess.

There is no Python copy of the clamp rules (decide/internal/clamp RULES.md). Every action the learned policy
would take is sent to ``decide clamp`` (one JSON line per request, see clamp.Stream) with the clamp inputs the
decision logged (trust flags, the feature-store snapshot's last system warn/action times, raid mode, the decision
clock, the deterministic action and score, over_budget); its answer is the action that would be executed.
The clamp limits come from ``DECIDE_CLAMP_FILE`` exactly as for decide itself.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import numpy.typing as npt

from streamsafe_rl import schema
from streamsafe_rl.data import Decisions


class ClampError(Exception):
    """decide clamp failed or answered something unexpected."""


_FINAL_RE = re.compile(rb'"final_index":(-?\d+)')


@dataclass(frozen=True)
class ClampResult:
    final: npt.NDArray[np.int64]  # index in the action set of the clamped action, per request
    rules: list[list[str]] | None  # rule names per request (only when asked for)


def default_decide_bin() -> Path:
    return Path(os.environ.get("DECIDE_BIN", str(schema.repo_root() / "bin" / "decide")))


def _b(x: bool | np.bool_) -> str:
    return "true" if x else "false"


def row_prefixes(d: Decisions) -> list[str]:
    """The clamp input of each decision as the start of a JSON object, without "requested"."""
    out = []
    for i in range(len(d)):
        out.append(
            "{"
            + f'"channel":{json.dumps(str(d.channel[i]))},'
            + f'"deterministic":{json.dumps(str(d.action_deterministic[i]))},'
            + f'"score":{float(d.risk_score[i])!r},'
            + f'"broadcaster":{_b(d.broadcaster[i])},"moderator":{_b(d.moderator[i])},"vip":{_b(d.vip[i])},'
            + f'"sub_months":{int(d.sub_months[i])},"first_msg":{_b(d.first_msg[i])},'
            + f'"last_warn_ms":{int(d.last_warn_ms[i])},"last_action_ms":{int(d.last_action_ms[i])},'
            + f'"now_ms":{int(d.now_ms[i])},"raid_active":{_b(d.raid_active[i])},'
            + f'"over_budget":{_b(d.over_budget[i])},"requested":'
        )
    return out


class Clamp:
    """Runs ``decide clamp`` on batches of requests."""

    def __init__(
        self, decide_bin: Path | None = None, clamp_file: Path | None = None, batch_lines: int = 500_000
    ) -> None:
        self.bin = decide_bin or default_decide_bin()
        if not os.access(self.bin, os.X_OK):
            raise ClampError(
                f"decide binary {self.bin} not found or not executable: run `make build` (or set DECIDE_BIN)"
            )
        self.env = dict(os.environ)
        if clamp_file is not None:
            self.env["DECIDE_CLAMP_FILE"] = str(clamp_file)
        self.batch_lines = batch_lines
        self.lines_sent = 0

    def apply(self, prefixes: Sequence[str], requested: Sequence[str], *, with_rules: bool = False) -> ClampResult:
        """Clamp requested[i] in the context prefixes[i] (from :func:`row_prefixes`), for every i."""
        if len(prefixes) != len(requested):
            raise ValueError("prefixes and requested differ in length")
        finals: list[npt.NDArray[np.int64]] = []
        rules: list[list[str]] = []
        for lo in range(0, len(prefixes), self.batch_lines):
            hi = min(lo + self.batch_lines, len(prefixes))
            lines = (p + '"' + r + '"}\n' for p, r in zip(prefixes[lo:hi], requested[lo:hi], strict=True))
            f, r = self._run(lines, hi - lo, with_rules)
            finals.append(f)
            if r is not None:
                rules.extend(r)
        final = np.concatenate(finals) if finals else np.zeros(0, dtype=np.int64)
        return ClampResult(final=final, rules=rules if with_rules else None)

    def table(self, prefixes: Sequence[str]) -> npt.NDArray[np.int64]:
        """clamped[i, a]: the action executed when the policy requests action a in decision i's context."""
        n = len(prefixes)
        out = np.empty((n, schema.NUM_ACTIONS), dtype=np.int64)
        for a, name in enumerate(schema.ACTIONS):
            out[:, a] = self.apply(prefixes, [name] * n).final
        return out

    def _run(
        self, lines: Iterator[str], n: int, with_rules: bool
    ) -> tuple[npt.NDArray[np.int64], list[list[str]] | None]:
        proc = subprocess.Popen(
            [str(self.bin), "clamp"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
        )
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        err: list[BaseException] = []

        def feed(w: IO[bytes]) -> None:
            try:
                buf: list[str] = []
                for ln in lines:
                    buf.append(ln)
                    if len(buf) >= 8192:
                        w.write("".join(buf).encode())
                        buf.clear()
                if buf:
                    w.write("".join(buf).encode())
            except BrokenPipeError as e:  # decide clamp died; its stderr says why
                err.append(e)
            finally:
                w.close()

        t = threading.Thread(target=feed, args=(proc.stdin,), daemon=True)
        t.start()
        out = proc.stdout.read()
        stderr = proc.stderr.read()
        t.join()
        rc = proc.wait()
        if rc != 0:
            raise ClampError(f"{self.bin} clamp exited {rc}: {stderr.decode(errors='replace').strip()[:2000]}")
        self.lines_sent += n
        got = _FINAL_RE.findall(out)
        if len(got) != n:
            raise ClampError(f"{self.bin} clamp answered {len(got)} results for {n} requests")
        final = np.array(got, dtype=np.int64)
        if final.min(initial=0) < 0 or final.max(initial=0) >= schema.NUM_ACTIONS:
            raise ClampError(f"{self.bin} clamp returned an action outside the action set {schema.ACTION_SET}")
        rules = None
        if with_rules:
            rules = [list(json.loads(ln)["rules"]) for ln in out.splitlines() if ln.strip()]
        return final, rules
