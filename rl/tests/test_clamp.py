"""The clamp is the real Go clamp (`decide clamp`), called in batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sinkfiles as sf
from streamsafe_rl import clampio, data, schema

W = data.Window(data.from_us(sf.T0_MS * 1000), data.from_us((sf.T0_MS + 600_000) * 1000))


def _decisions(tmp_path: Path) -> data.Decisions:
    rows = [
        sf.decision(sf.T0_MS + 1000, user="plain"),
        sf.decision(sf.T0_MS + 1100, user="caster", broadcaster=True),
        sf.decision(sf.T0_MS + 1200, user="mod", moderator=True),
        sf.decision(sf.T0_MS + 1300, user="vip", vip=True),
        # warned 2 s ago by the system: inside the 10 s cooldown.
        sf.decision(sf.T0_MS + 1400, user="cool", snapshot=[0] * 12 + [sf.T0_MS - 600, sf.T0_MS - 600] + [0] * 4),
    ]
    return data.load_decisions(sf.Dataset(decisions=rows).write(tmp_path), W)


def test_clamp_table(tmp_path: Path, decide_bin: Path) -> None:
    d = _decisions(tmp_path)
    c = clampio.Clamp(decide_bin)
    t = c.table(clampio.row_prefixes(d))
    by_user = {f"{u}": t[i] for i, u in enumerate(["plain", "caster", "mod", "vip", "cool"])}
    # Never harsher than the request.
    assert (t <= np.arange(schema.NUM_ACTIONS)).all()
    # The broadcaster and moderators are never actioned.
    assert (by_user["caster"] == 0).all() and (by_user["mod"] == 0).all()
    # VIPs are capped at WARN by default.
    assert by_user["vip"].max() == 1
    # No timeout without an earlier warning (score is low): timeouts fall back to WARN.
    assert by_user["plain"].tolist() == [0, 1, 2, 1, 1, 1]
    # Inside the cooldown a WARN is suppressed and a timeout becomes DELETE.
    assert by_user["cool"][1] == 0 and by_user["cool"][3] == 2
    assert c.lines_sent == len(d) * schema.NUM_ACTIONS


def test_rules_are_reported(tmp_path: Path, decide_bin: Path) -> None:
    d = _decisions(tmp_path)
    res = clampio.Clamp(decide_bin).apply(clampio.row_prefixes(d), ["DELETE"] * len(d), with_rules=True)
    assert res.rules is not None
    assert res.rules[0] == []
    assert res.rules[1] == ["trust_broadcaster"]
    assert res.final.tolist()[:3] == [2, 0, 0]


def test_batches_give_the_same_answer(tmp_path: Path, decide_bin: Path) -> None:
    d = _decisions(tmp_path)
    pre = clampio.row_prefixes(d) * 7
    req = [schema.ACTIONS[i % schema.NUM_ACTIONS] for i in range(len(pre))]
    one = clampio.Clamp(decide_bin).apply(pre, req).final
    many = clampio.Clamp(decide_bin, batch_lines=4).apply(pre, req).final
    np.testing.assert_array_equal(one, many)


def test_missing_binary(tmp_path: Path) -> None:
    with pytest.raises(clampio.ClampError, match="run `make build`"):
        clampio.Clamp(tmp_path / "nope")


def test_bad_clamp_file(tmp_path: Path, decide_bin: Path) -> None:
    d = _decisions(tmp_path)
    bad = tmp_path / "clamp.json"
    bad.write_text("{not json")
    with pytest.raises(clampio.ClampError, match="clamp exited 1"):
        clampio.Clamp(decide_bin, clamp_file=bad).apply(clampio.row_prefixes(d), ["IGNORE"] * len(d))
