#!/usr/bin/env bash
# train.sh runs the whole offline learning loop at small scale, end to end:
#
#   1. the pipeline produces logs: a private redis-server, the Twitch simulator with simulated human moderators
#      (-mods) and its ground-truth file, ingest, decide with epsilon exploration (so off-policy estimates are
#      valid) acting through the simulator's Helix, and the sink writing Parquet, for --duration seconds;
#      then everything is stopped with SIGTERM once the sink has drained the streams;
#   2. python -m streamsafe_rl all: windows, rewards (PySpark), training (BPPO), held-out evaluation (WIS/DR,
#      ground truth, the real clamp), ONNX export with golden vectors, report.
#
# Usage: scripts/train.sh [--duration S] [--rate N] [--channels N] [--epsilon E] [--seed N] [--out DIR]
#                         [--logs-only] [--logs DIR] [--no-require-pass]
#   --out DIR      everything goes here (default runs/train-<UTC time>): logs/ (data/, truth.jsonl, service
#                  logs), rewards/, runs/<train window>_<reward version>_seed<seed>/ (model, eval, export, report)
#   --logs-only    stop after step 1
#   --logs DIR     skip step 1 and reuse DIR (a previous --out or its logs/) as the pipeline's logs
#   --quick        CI scale: --duration 60 --rate 250, raids every 20 s
# Exits non-zero when a step fails or (unless --no-require-pass) the learned policy does not beat the baseline
# on any metric with a 95% interval excluding no improvement, or the clamp check finds a violation.
# Needs bin/ built (`make build`: twitchsim, ingest, decide, sink; or TRAIN_BIN=dir); installs rl/.venv via
# scripts/pyenv.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
. scripts/lib.sh
BIN=${TRAIN_BIN:-$ROOT/bin} # TRAIN_BIN: use binaries from another directory

DURATION=120 RATE=200 CHANNELS=8 EPSILON=0.1 SEED=1 OUT="" LOGS_ONLY=0 LOGS="" REQUIRE=--require-pass RAID_EVERY=30s
MISS_DELAY=5s REVERSE_DELAY=5s MISS_WINDOW=15 REVERSE_WINDOW=20
while [ $# -gt 0 ]; do
	case "$1" in
	--duration) DURATION=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--channels) CHANNELS=$2; shift 2 ;;
	--epsilon) EPSILON=$2; shift 2 ;;
	--seed) SEED=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--logs-only) LOGS_ONLY=1; shift ;;
	--logs) LOGS=$2; shift 2 ;;
	--quick) DURATION=60; RATE=250; RAID_EVERY=20s; shift ;;
	--no-require-pass) REQUIRE=""; shift ;;
	-h | --help) sed -n '2,24p' "$0"; exit 0 ;;
	*) echo "train.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
[ -n "$OUT" ] || OUT=$ROOT/runs/train-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
log() { printf '[train %s] %s\n' "$(date +%T)" "$*" >&2; }

scripts/pyenv.sh
PY=$ROOT/rl/.venv/bin/python

if [ -n "$LOGS" ]; then
	[ -d "$LOGS/logs/data" ] && LOGS=$LOGS/logs
	[ -d "$LOGS/data" ] || { echo "train.sh: $LOGS has no data/ directory" >&2; exit 2; }
	LOGDIR=$(cd "$LOGS" && pwd)
else
	LOGDIR=$OUT/logs
	for b in twitchsim ingest decide sink; do
		[ -x "$BIN/$b" ] || { echo "train.sh: $BIN/$b missing: run 'make build' first" >&2; exit 1; }
	done
	rm -rf "$LOGDIR"
	mkdir -p "$LOGDIR/redis" "$LOGDIR/service-logs"
	PORT=$(freeport)
	SIM_WS=127.0.0.1:$(freeport)
	SIM_CTL=127.0.0.1:$(freeport)

	pids=()
	names=()
	cleanup() {
		trap - INT TERM EXIT
		stop_started
	}
	trap_cleanup cleanup
	start() { start_bg "$1" "$LOGDIR/service-logs/$1.log" "$LOGDIR/service-logs/$1.log" "${@:2}"; } # name, command...
	stop() { # name: one SIGTERM, then wait for it to exit
		local p
		p=$(pidof_name "$1")
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	}
	rcli() { redis-cli -p "$PORT" "$@"; }
	wait_idle() { # timeout_s, then pairs of STREAM GROUP
		local t=$1
		shift
		for _ in $(seq $((t * 5))); do
			local ok=1 i
			for ((i = 1; i < $#; i += 2)); do
				local s=${!i} j=$((i + 1))
				group_idle "$s" "${!j}" || { ok=0; break; }
			done
			[ $ok = 1 ] && return 0
			sleep 0.2
		done
		log "timed out waiting for consumer groups to drain: $*"
		return 1
	}

	log "pipeline: redis :$PORT, $RATE msgs/s over $CHANNELS channels for ${DURATION}s, epsilon $EPSILON, seed $SEED -> $LOGDIR"
	start redis redis-server --bind 127.0.0.1 --port "$PORT" --save "" --appendonly no --dir "$LOGDIR/redis"
	for _ in $(seq 50); do rcli ping >/dev/null 2>&1 && break; sleep 0.1; done
	rcli ping >/dev/null || { echo "train.sh: redis-server did not start" >&2; exit 1; }
	export REDIS_ADDR=127.0.0.1:$PORT
	# Generous Helix limits (simulated): the executor must keep up, or actions run late and humans step in
	# on messages the system did decide to act on.
	start twitchsim "$BIN/twitchsim" -ws "$SIM_WS" -tcp "" -control "$SIM_CTL" -rate "$RATE" -channels "$CHANNELS" \
		-duration "${DURATION}s" -seed "$SEED" -scenario raid -raid-every "$RAID_EVERY" -truth-file "$LOGDIR/truth.jsonl" \
		-wait-join -mods -redis-addr "$REDIS_ADDR" -mod-miss-delay "$MISS_DELAY" -mod-reverse-delay "$REVERSE_DELAY" \
		-helix-points-per-minute 600000
	sleep 0.3
	chans=$(seq -s, -f 'simchan%g' 0 $((CHANNELS - 1)))
	INGEST_TWITCH_URL="ws://$SIM_WS/" INGEST_CHANNELS="$chans" INGEST_HTTP_ADDR=127.0.0.1:$(freeport) start ingest "$BIN/ingest"
	DECIDE_EXPLORE_EPSILON=$EPSILON DECIDE_HTTP_ADDR=127.0.0.1:$(freeport) HELIX_BASE_URL="http://$SIM_CTL/helix" \
		TWITCH_CLIENT_ID=streamsafe-sim TWITCH_TOKEN=sim-token TWITCH_MODERATOR_ID=754490142 HELIX_GLOBAL_LIMIT=600000 \
		start decide "$BIN/decide"
	SINK_DIR="$LOGDIR/data" SINK_HTTP_ADDR=127.0.0.1:$(freeport) SINK_FILE_AGE=20s SINK_CONSUMER_NAME=train-sink \
		start sink "$BIN/sink"

	# Generation runs DURATION seconds; then the simulated moderators still act on the last messages.
	end=$((SECONDS + DURATION + 12))
	while [ $SECONDS -lt $end ]; do
		for n in redis twitchsim ingest decide sink; do
			kill -0 "$(pidof_name "$n")" 2>/dev/null || { echo "train.sh: $n exited early; see $LOGDIR/service-logs/$n.log" >&2; exit 1; }
		done
		sleep 1
	done
	curl -s "http://$SIM_CTL/stats" >"$LOGDIR/twitchsim-stats.json" || true
	stop twitchsim
	sleep 1
	wait_idle 60 streamsafe:chat decide || true
	stop ingest
	stop decide # drains the executor: its last results go to the executions stream
	wait_idle 120 streamsafe:decisions sink streamsafe:mod sink streamsafe:executions sink
	stop sink # commits the open files
	log "pipeline: chat $(rcli XLEN streamsafe:chat), decisions $(rcli XLEN streamsafe:decisions), mod $(rcli XLEN streamsafe:mod), executions $(rcli XLEN streamsafe:executions)"
	# Every stream entry must be in the files exactly once (or dead-lettered):
	# raidstat compares the IDs; rl/tests/test_sink_files.py re-checks the
	# counts with pyarrow from sink-check.json.
	if [ -x "$BIN/raidstat" ]; then
		"$BIN/raidstat" -redis "$REDIS_ADDR" -sink-check -sink-dir "$LOGDIR/data" -decisions streamsafe:decisions \
			>"$LOGDIR/sink-check.json" || { cat "$LOGDIR/sink-check.json" >&2; echo "train.sh: the sink's files do not match the streams" >&2; exit 1; }
	fi
	stop redis
	trap - INT TERM EXIT
	"$BIN/sink" verify "$LOGDIR/data" >"$LOGDIR/sink-verify.txt" || { cat "$LOGDIR/sink-verify.txt" >&2; exit 1; }
	log "pipeline: $(tail -1 "$LOGDIR/sink-verify.txt")"
fi

if [ "$LOGS_ONLY" = 1 ]; then
	log "logs in $LOGDIR"
	exit 0
fi
truth=()
[ -f "$LOGDIR/truth.jsonl" ] && truth=(--truth "$LOGDIR/truth.jsonl")
log "learning loop: python -m streamsafe_rl all (rewards, train, evaluate, export, report)"
DECIDE_BIN=$BIN/decide "$PY" -m streamsafe_rl all --data "$LOGDIR/data" "${truth[@]}" --out "$OUT" --seed "$SEED" \
	--miss-window "$MISS_WINDOW" --reverse-window "$REVERSE_WINDOW" $REQUIRE | tee "$OUT/summary.json"
