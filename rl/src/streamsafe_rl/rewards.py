"""Per-decision rewards from human-moderator labels, with PySpark.

Runs in local mode by default (``local[*]``) and unchanged on a cluster::

    spark-submit --master spark://host:7077 rl/src/streamsafe_rl/rewards.py \\
        --data hdfs:///streamsafe/data --window 2026-11-26T00:00:00Z/2026-11-26T01:00:00Z \\
        --out hdfs:///streamsafe/rewards/2026-11-26T00

This file imports nothing but PySpark and the standard library, so spark-submit needs no ``--py-files``.
``python -m streamsafe_rl rewards`` validates the input files first (docs/parquet.md footers, partitions, empty
windows) and then calls :func:`compute_rewards` on exactly the files it validated.

Reward table (``REWARD_VERSION`` rw-1)
======================================

Every decision gets one reward, the sum of the rows that apply, bounded to [REWARD_MIN, REWARD_MAX] = [-1.5, 0]:

=====================================================  ==========================================================
outcome (label)                                        reward
=====================================================  ==========================================================
the action itself (cost of a harsher action)           IGNORE 0, WARN -0.01, DELETE -0.02, TIMEOUT_60 -0.04,
                                                       TIMEOUT_600 -0.06, TIMEOUT_3600 -0.1
``missed``: abuse missed, then actioned by a human     -1.0
``reversed``: the system's action lifted by a human    -1.0
correct IGNORE / correct action (no human objection)   only the action's cost: a correct action earns its +1
                                                       relative to the missed-abuse outcome of IGNORE
``not_executed``: non-IGNORE action that the executor  null (row excluded from learning and evaluation: its
did not carry out (failed, dropped, no result)         outcome does not belong to the logged action)
=====================================================  ==========================================================

Labels, joined on the decision's clock (``event_time``) and the mod event's (``tmi_sent_at``, else
``received_at``):

* **Human actions** are mod events ``delete``, ``timeout``, ``ban``, ``warn`` that are not the echo of one of the
  system's own executions. Echoes: a ``delete`` of a message the system deleted (``executions.msg_id``); a
  ``timeout``/``warn`` of the same room and user with the same action (``TIMEOUT_<duration_s>``) executed within
  ``echo_tolerance_s`` of the event. The system never bans, so every ``ban`` is human.
* ``missed`` (abuse missed, then actioned by a human): a human ``delete`` of the decision's own message within
  ``miss_window_s`` after it, whatever the action; or a human ``timeout``, ``ban`` or ``warn`` of the author in
  the room: it counts against ONE of the author's IGNOREd decisions within ``miss_window_s`` before it, the one
  with the highest ``risk_score`` (ties: the latest), the message the human most likely reacted to.
* ``reversed``: an ``untimeout``/``unban`` of the author in the room within ``reverse_window_s`` after a
  successfully executed system timeout; each reversal counts against the latest such timeout before it.
* Duplicates are removed first: decisions by ``decision_id`` (first entry ID kept), mod events by their content,
  executions by decision and action (a success wins).

Output: one row per decision of the window, ordered by ``decision_id``, written as a single Parquet file so that
identical input gives byte-identical output: decision_id, event_time, action_final_idx, reward (null when
not_executed), reward_version, label (``none``, ``missed``, ``reversed``, ``missed+reversed``, ``not_executed``),
human_followup, reversed, executed, label_delay_s (seconds from the decision to its first label, null when none).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F  # noqa: N812
from pyspark.sql import types as T  # noqa: N812

REWARD_VERSION = "rw-1"
REWARD_MIN = -1.5
REWARD_MAX = 0.0
ACTIONS = ("IGNORE", "WARN", "DELETE", "TIMEOUT_60", "TIMEOUT_600", "TIMEOUT_3600")
ACTION_COST = (0.0, 0.01, 0.02, 0.04, 0.06, 0.10)
MISSED_PENALTY = 1.0
REVERSED_PENALTY = 1.0
EXECUTED_OK = ("success", "already")

OUTPUT_SCHEMA = T.StructType(
    [
        T.StructField("decision_id", T.StringType(), False),
        T.StructField("event_time", T.TimestampType(), False),
        T.StructField("action_final_idx", T.IntegerType(), False),
        T.StructField("reward", T.DoubleType(), True),
        T.StructField("reward_version", T.StringType(), False),
        T.StructField("label", T.StringType(), False),
        T.StructField("human_followup", T.BooleanType(), False),
        T.StructField("reversed", T.BooleanType(), False),
        T.StructField("executed", T.BooleanType(), False),
        T.StructField("label_delay_s", T.DoubleType(), True),
    ]
)


@dataclass(frozen=True)
class RewardConfig:
    """Label windows of the join (seconds)."""

    miss_window_s: float = 60.0
    """A human action on a message or its author counts as 'missed abuse' for decisions this long before it."""
    reverse_window_s: float = 120.0
    """An unban/untimeout reverses a system timeout executed at most this long before it."""
    echo_tolerance_s: float = 10.0
    """A mod event within this long of a matching execution is the system's own action echoed back."""

    def label_horizon_s(self) -> float:
        return max(self.miss_window_s, self.reverse_window_s)


@dataclass(frozen=True)
class RewardStats:
    decisions: int
    duplicates_removed: int
    human_actions: int
    system_echoes: int
    reversals: int
    missed: int
    reversed: int
    not_executed: int


def spark_session(
    master: str | None = "local[*]", app: str = "streamsafe-rewards", shuffle_partitions: int = 8
) -> SparkSession:
    """A SparkSession for the rewards job. master None keeps whatever spark-submit configured."""
    b = SparkSession.builder.appName(app)
    if master:
        b = b.master(master)
    b = (
        b.config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.parquet.compression.codec", "zstd")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .config("spark.driver.memory", "3g")
    )
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _us(c: Column) -> Column:
    return F.unix_micros(c)


def _entry_key(c: Column) -> tuple[Column, Column]:
    parts = F.split(c, "-")
    return parts.getItem(0).cast("long"), parts.getItem(1).cast("long")


def compute_rewards(
    decisions: DataFrame,
    mod: DataFrame,
    executions: DataFrame,
    start_us: int,
    end_us: int,
    cfg: RewardConfig,
) -> tuple[DataFrame, dict[str, Any]]:
    """The reward table of the decisions with event_time in [start_us, end_us), and label statistics.

    decisions, mod and executions are DataFrames with the docs/parquet.md columns (extra columns are ignored).
    The result is not yet sorted; :func:`write_rewards` writes it in decision_id order.
    """
    miss_us = int(cfg.miss_window_s * 1e6)
    rev_us = int(cfg.reverse_window_s * 1e6)
    tol_us = int(cfg.echo_tolerance_s * 1e6)
    horizon_end = end_us + max(miss_us, rev_us)

    ems, eseq = _entry_key(F.col("entry_id"))
    d = (
        decisions.select(
            "entry_id",
            "decision_id",
            "msg_id",
            "room_id",
            "user_id",
            "event_time",
            "action_final_idx",
            "risk_score",
            "failure_reason",
        )
        .withColumn("t_us", _us(F.col("event_time")))
        .where((F.col("t_us") >= F.lit(start_us)) & (F.col("t_us") < F.lit(end_us)))
        .withColumn("_ems", ems)
        .withColumn("_eseq", eseq)
    )
    n_raw = d.count()
    w = Window.partitionBy("decision_id").orderBy("_ems", "_eseq")
    d = d.withColumn("_rn", F.row_number().over(w)).where(F.col("_rn") == 1).drop("_rn", "_ems", "_eseq", "entry_id")
    d = d.cache()
    n_dec = d.count()

    # Executions: did the logged action happen, and when (first success).
    x = executions.select("decision_id", "msg_id", "room_id", "user_id", "action", "status", "executed_at").withColumn(
        "x_us", _us(F.col("executed_at"))
    )
    x_ok = x.where(F.col("status").isin(*EXECUTED_OK))
    x_dec = x_ok.groupBy("decision_id").agg(F.min("x_us").alias("exec_us"))

    # Mod events in the label horizon, deduplicated by content.
    m = (
        mod.select("kind", "room_id", "target_user_id", "target_msg_id", "duration_s", "tmi_sent_at", "received_at")
        .withColumn("m_us", _us(F.coalesce(F.col("tmi_sent_at"), F.col("received_at"))))
        .where(F.col("m_us").isNotNull() & (F.col("m_us") >= F.lit(start_us)) & (F.col("m_us") < F.lit(horizon_end)))
        .drop("tmi_sent_at", "received_at")
        .dropDuplicates(["kind", "room_id", "target_user_id", "target_msg_id", "duration_s", "m_us"])
        .withColumn(
            "m_key", F.concat_ws("|", "kind", "room_id", "target_user_id", "target_msg_id", "duration_s", "m_us")
        )
    )
    acts = m.where(F.col("kind").isin("delete", "timeout", "ban", "warn"))
    xa = x_ok.select(
        F.col("msg_id").alias("x_msg"),
        F.col("room_id").alias("x_room"),
        F.col("user_id").alias("x_user"),
        F.col("action").alias("x_action"),
        "x_us",
    )
    echo_del = acts.where(F.col("kind") == "delete").join(
        xa.where(F.col("x_action") == "DELETE"), F.col("target_msg_id") == F.col("x_msg"), "left_semi"
    )
    user_action = F.when(
        F.col("kind") == "timeout", F.concat(F.lit("TIMEOUT_"), F.col("duration_s").cast("string"))
    ).otherwise(F.lit("WARN"))
    echo_user = (
        acts.where(F.col("kind").isin("timeout", "warn"))
        .withColumn("_act", user_action)
        .join(
            xa,
            (F.col("room_id") == F.col("x_room"))
            & (F.col("target_user_id") == F.col("x_user"))
            & (F.col("_act") == F.col("x_action"))
            & (F.abs(F.col("m_us") - F.col("x_us")) <= F.lit(tol_us)),
            "left_semi",
        )
        .drop("_act")
    )
    echoes = echo_del.select("m_key").union(echo_user.select("m_key")).distinct()
    human = acts.join(echoes, "m_key", "left_anti").cache()
    reversals = m.where(F.col("kind").isin("unban", "untimeout"))

    # missed (a): a human deleted this very message after the decision.
    hd = human.where(F.col("kind") == "delete").select(
        F.col("target_msg_id").alias("h_msg"), F.col("m_us").alias("h_us")
    )
    miss_msg = (
        d.select("decision_id", "msg_id", "t_us")
        .join(
            hd,
            (F.col("msg_id") == F.col("h_msg"))
            & (F.col("h_us") >= F.col("t_us"))
            & (F.col("h_us") <= F.col("t_us") + miss_us),
        )
        .groupBy("decision_id")
        .agg(F.min("h_us").alias("miss_us"))
    )
    # missed (b): a human timed out, banned or warned the author: it counts against ONE decision of the author,
    # the IGNOREd one with the highest risk score in the miss window before it (the message the human most likely
    # reacted to; ties: the latest). Labelling every IGNOREd message of the author would mark their harmless
    # messages too.
    hu = human.where(F.col("kind").isin("timeout", "ban", "warn")).select(
        F.col("room_id").alias("h_room"), F.col("target_user_id").alias("h_user"), F.col("m_us").alias("h_us"), "m_key"
    )
    cand_u = (
        d.where(F.col("action_final_idx") == 0)
        .select("decision_id", "room_id", "user_id", "t_us", "risk_score")
        .join(
            hu,
            (F.col("room_id") == F.col("h_room"))
            & (F.col("user_id") == F.col("h_user"))
            & (F.col("h_us") > F.col("t_us"))
            & (F.col("h_us") <= F.col("t_us") + miss_us),
        )
    )
    wu = Window.partitionBy("m_key").orderBy(
        F.col("risk_score").desc(), F.col("t_us").desc(), F.col("decision_id").desc()
    )
    miss_user = (
        cand_u.withColumn("_rn", F.row_number().over(wu))
        .where(F.col("_rn") == 1)
        .groupBy("decision_id")
        .agg(F.min("h_us").alias("miss_us"))
    )
    missed = miss_msg.union(miss_user).groupBy("decision_id").agg(F.min("miss_us").alias("miss_us"))

    # reversed: each unban/untimeout counts against the latest executed system timeout of the user before it.
    to = (
        d.where(F.col("action_final_idx") >= 3)
        .join(x_dec, "decision_id")
        .select("decision_id", F.col("room_id").alias("s_room"), F.col("user_id").alias("s_user"), "exec_us")
    )
    rv = reversals.select(
        F.col("room_id").alias("r_room"), F.col("target_user_id").alias("r_user"), F.col("m_us").alias("r_us"), "m_key"
    )
    cand = to.join(
        rv,
        (F.col("s_room") == F.col("r_room"))
        & (F.col("s_user") == F.col("r_user"))
        & (F.col("r_us") >= F.col("exec_us"))
        & (F.col("r_us") <= F.col("exec_us") + rev_us),
    )
    wr = Window.partitionBy("m_key").orderBy(F.col("exec_us").desc(), F.col("decision_id").desc())
    rev = (
        cand.withColumn("_rn", F.row_number().over(wr))
        .where(F.col("_rn") == 1)
        .groupBy("decision_id")
        .agg(F.min("r_us").alias("rev_us"))
    )

    cost = F.element_at(F.array(*[F.lit(c) for c in ACTION_COST]), F.col("action_final_idx") + 1)
    out = (
        d.join(x_dec, "decision_id", "left")
        .join(missed, "decision_id", "left")
        .join(rev, "decision_id", "left")
        .withColumn("human_followup", F.col("miss_us").isNotNull())
        .withColumn("reversed", F.col("rev_us").isNotNull())
        .withColumn("executed", (F.col("action_final_idx") == 0) | F.col("exec_us").isNotNull())
        .withColumn(
            "label",
            F.when(~F.col("executed"), F.lit("not_executed"))
            .when(F.col("human_followup") & F.col("reversed"), F.lit("missed+reversed"))
            .when(F.col("human_followup"), F.lit("missed"))
            .when(F.col("reversed"), F.lit("reversed"))
            .otherwise(F.lit("none")),
        )
        .withColumn(
            "_raw",
            -cost
            - F.when(F.col("human_followup"), F.lit(MISSED_PENALTY)).otherwise(F.lit(0.0))
            - F.when(F.col("reversed"), F.lit(REVERSED_PENALTY)).otherwise(F.lit(0.0)),
        )
        .withColumn(
            "reward",
            F.when(
                F.col("executed"), F.greatest(F.lit(REWARD_MIN), F.least(F.lit(REWARD_MAX), F.col("_raw")))
            ).otherwise(F.lit(None).cast("double")),
        )
        .withColumn("reward_version", F.lit(REWARD_VERSION))
        .withColumn("label_delay_s", (F.least(F.col("miss_us"), F.col("rev_us")) - F.col("t_us")) / F.lit(1e6))
        .select(
            "decision_id",
            "event_time",
            F.col("action_final_idx").cast("int").alias("action_final_idx"),
            "reward",
            "reward_version",
            "label",
            "human_followup",
            "reversed",
            "executed",
            "label_delay_s",
        )
    )
    agg = out.agg(
        F.count(F.lit(1)).alias("n"),
        F.sum(F.col("human_followup").cast("int")).alias("missed"),
        F.sum(F.col("reversed").cast("int")).alias("reversed"),
        F.sum((~F.col("executed")).cast("int")).alias("not_executed"),
    ).collect()[0]
    n_human = human.count()
    n_acts = acts.count()
    stats = asdict(
        RewardStats(
            decisions=int(agg["n"]),
            duplicates_removed=int(n_raw - n_dec),
            human_actions=int(n_human),
            system_echoes=int(n_acts - n_human),
            reversals=int(reversals.count()),
            missed=int(agg["missed"] or 0),
            reversed=int(agg["reversed"] or 0),
            not_executed=int(agg["not_executed"] or 0),
        )
    )
    return out, stats


def write_rewards(df: DataFrame, out: str) -> str | None:
    """Write the reward table in decision_id order under the directory out.

    Spark writes one sorted part file to ``out/_spark``. On a local file system that part is then rewritten with
    pyarrow as ``out/rewards.parquet`` (fixed writer options, no Spark metadata) and the staging directory removed,
    because parquet-mr lists column encodings in hash-set order and so does not give byte-identical files for
    identical data. Returns the path of rewards.parquet, or None when out is not local (the Spark part files are
    then the output; their rows are identical, their bytes may differ in the footer).
    """
    staging = out.rstrip("/") + "/_spark"
    (
        df.repartition(1)
        .sortWithinPartitions("decision_id")
        .write.mode("overwrite")
        .option("compression", "zstd")
        .parquet(staging)
    )
    local = out.removeprefix("file://")
    if "://" in local:
        return None
    import shutil
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = sorted(Path(local, "_spark").glob("part-*.parquet"))
    table = pa.concat_tables([pq.read_table(p) for p in parts]) if parts else None
    fields = [
        pa.field("decision_id", pa.string(), False),
        pa.field("event_time", pa.timestamp("us", tz="UTC"), False),
        pa.field("action_final_idx", pa.int32(), False),
        pa.field("reward", pa.float64(), True),
        pa.field("reward_version", pa.string(), False),
        pa.field("label", pa.string(), False),
        pa.field("human_followup", pa.bool_(), False),
        pa.field("reversed", pa.bool_(), False),
        pa.field("executed", pa.bool_(), False),
        pa.field("label_delay_s", pa.float64(), True),
    ]
    sch = pa.schema(fields, metadata={"streamsafe.reward_version": REWARD_VERSION})
    if table is None:
        table = sch.empty_table()
    table = table.select([f.name for f in fields]).cast(sch)
    final = Path(local, "rewards.parquet")
    tmp = Path(local, ".rewards.parquet.tmp")
    pq.write_table(table, tmp, compression="zstd", row_group_size=1 << 20, write_statistics=True, use_dictionary=True)
    tmp.replace(final)
    shutil.rmtree(Path(local, "_spark"))
    for junk in Path(local).glob("*.crc"):
        junk.unlink()
    return str(final)


def read_dataset(spark: SparkSession, root: str, stream: str) -> DataFrame:
    """A sink dataset read by Spark's partition discovery (dt=/hour=); hidden .tmp files are skipped by Spark."""
    return spark.read.option("basePath", f"{root}/{stream}").parquet(f"{root}/{stream}")


def _parse_time(s: str) -> datetime:
    for f in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(s, f).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise SystemExit(f"rewards: bad time {s!r}: want UTC like 2026-11-26T00:12:00Z")


def _micros(t: datetime) -> int:
    d = t - datetime(1970, 1, 1, tzinfo=UTC)
    return (d.days * 86_400 + d.seconds) * 1_000_000 + d.microseconds


def main(argv: list[str] | None = None) -> int:
    """spark-submit entry point: rewards of one window of a sink data directory (any Hadoop file system)."""
    ap = argparse.ArgumentParser(prog="rewards.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="sink data directory (holds decisions/, mod/, executions/)")
    ap.add_argument("--window", required=True, help="START/END in UTC, e.g. 2026-11-26T00:00:00Z/2026-11-26T01:00:00Z")
    ap.add_argument("--out", required=True, help="output directory (overwritten)")
    ap.add_argument("--master", default=None, help="Spark master (default: spark-submit's, else local[*])")
    ap.add_argument("--miss-window", type=float, default=RewardConfig.miss_window_s)
    ap.add_argument("--reverse-window", type=float, default=RewardConfig.reverse_window_s)
    ap.add_argument("--echo-tolerance", type=float, default=RewardConfig.echo_tolerance_s)
    a = ap.parse_args(argv)
    start_s, _, end_s = a.window.partition("/")
    start, end = _parse_time(start_s), _parse_time(end_s)
    if end <= start:
        raise SystemExit(f"rewards: empty window {a.window}")
    active = SparkSession.getActiveSession()
    spark = active or spark_session(a.master or "local[*]")
    cfg = RewardConfig(a.miss_window, a.reverse_window, a.echo_tolerance)
    df, stats = compute_rewards(
        read_dataset(spark, a.data, "decisions"),
        read_dataset(spark, a.data, "mod"),
        read_dataset(spark, a.data, "executions"),
        _micros(start),
        _micros(end),
        cfg,
    )
    if stats["decisions"] == 0:
        print(f"rewards: window {a.window} has no decisions", file=sys.stderr)
        return 1
    if stats["missed"] + stats["reversed"] == 0:
        print(f"rewards: window {a.window} has no human labels (no human action, no reversal)", file=sys.stderr)
        return 1
    path = write_rewards(df, a.out)
    print(
        json.dumps({"path": path, "reward_version": REWARD_VERSION, "window": a.window, **stats, "config": asdict(cfg)})
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
