#!/usr/bin/env bash
# sinkcrash.sh: the sink's crash loop. Runs the whole pipeline (its own
# redis-server, the Twitch simulator with human moderators, ingest, decide
# with the dry-run executor, sink) for a run of --rate messages per second,
# kills the sink with SIGKILL at random moments --kills times (a random gap of
# --min-gap..--max-gap seconds between kills, the sink restarted at once or
# after up to a second), lets the run end and the sink drain, stops it with
# SIGTERM and checks that the rows in its files equal the stream entries
# exactly, for decisions, mod and executions (raidstat -sink-check: every entry
# once, or dead-lettered; nothing else), and that `sink verify` passes.
# Files are committed every second (SINK_FILE_AGE=1s) or every
# SINK_FILE_ROWS=4000 rows so that kills land before, during and after
# commits. Prints a summary; the last line is one JSON object; exits 1 on a
# mismatch.
#
# Usage: scripts/sinkcrash.sh [--kills N] [--rate N] [--channels N]
#            [--min-gap S] [--max-gap S] [--seed N] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
. scripts/lib.sh

KILLS=20 RATE=3000 CHANNELS=20 MIN_GAP=0.3 MAX_GAP=2.5 SEED=$$ KEEP=0
while [ $# -gt 0 ]; do
	case "$1" in
	--kills) KILLS=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--channels) CHANNELS=$2; shift 2 ;;
	--min-gap) MIN_GAP=$2; shift 2 ;;
	--max-gap) MAX_GAP=$2; shift 2 ;;
	--seed) SEED=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
	*) echo "sinkcrash.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done

WORK=$ROOT/.raid/sinkcrash-$(date +%Y%m%d-%H%M%S)
LOGS=$WORK/logs
BIN=$WORK/bin DATA=$WORK/data
mkdir -p "$BIN" "$WORK/logs" "$WORK/redis" "$DATA"
log() { printf '[sinkcrash %s] %s\n' "$(date +%T)" "$*" >&2; }

log "building into $BIN"
for b in ingest decide sink scripts/twitchsim scripts/raidstat; do
	go build -o "$BIN/$(basename $b)" "./$b"
done

pids=()
names=()
SINKPID=
cleanup() {
	trap - INT TERM EXIT
	[ -n "$SINKPID" ] && kill -TERM "$SINKPID" 2>/dev/null
	stop_started
	[ "$KEEP" = 1 ] || rm -rf "$WORK/redis" "$DATA" "$BIN" # the logs stay
}
trap_cleanup cleanup
start() { start_bg "$1" "$WORK/logs/$1.out" "$WORK/logs/$1.log" "${@:2}"; } # name, command...

RP=$(freeport) WSP=$(freeport) CTLP=$(freeport) IHP=$(freeport) DHP=$(freeport) SHP=$(freeport)
start redis redis-server --bind 127.0.0.1 --port "$RP" --save "" --appendonly no --dir "$WORK/redis"
export REDIS_ADDR=127.0.0.1:$RP
for _ in $(seq 50); do redis-cli -p "$RP" ping >/dev/null 2>&1 && break; sleep 0.1; done
rcli() { redis-cli -p "$RP" "$@"; }

# Long enough for the kills (their mean gap, plus restarts), then 5 s more.
DURATION=$(python3 -c "print(int($KILLS * ($MIN_GAP + $MAX_GAP) / 2 + $KILLS * 0.6 + 8))")
SIM=http://127.0.0.1:$CTLP
start twitchsim "$BIN/twitchsim" -ws "127.0.0.1:$WSP" -tcp "" -control "127.0.0.1:$CTLP" -rate "$RATE" \
	-channels "$CHANNELS" -duration "${DURATION}s" -join-limit 0 -wait-join -seed 1 -log-level warn \
	-mods -redis-addr "$REDIS_ADDR"
wait_http "$SIM/healthz" "simulator"
chans=$(seq -s, -f 'simchan%g' 0 $((CHANNELS - 1)))
start ingest env INGEST_TWITCH_URL="ws://127.0.0.1:$WSP/" INGEST_CHANNELS="$chans" INGEST_HTTP_ADDR="127.0.0.1:$IHP" \
	INGEST_JOIN_LIMIT=2000 INGEST_RATE_LIMIT=100000 INGEST_CHAT_MAX_LEN=0 LOG_LEVEL=warn "$BIN/ingest"
wait_http "http://127.0.0.1:$IHP/ready" "ingest"
start decide env DECIDE_HTTP_ADDR="127.0.0.1:$DHP" DECIDE_DECISIONS_MAX_LEN=0 DECIDE_EXECUTOR_MODE=dryrun \
	DECIDE_EXPLORE_EPSILON=0.05 LOG_LEVEL=warn "$BIN/decide"
wait_http "http://127.0.0.1:$DHP/ready" "decide"

start_sink() {
	env SINK_HTTP_ADDR="127.0.0.1:$SHP" SINK_DIR="$DATA" SINK_CONSUMER_NAME=crashsink SINK_FILE_AGE=1s \
		SINK_FILE_ROWS=4000 SINK_ROW_GROUP_ROWS=1000 SINK_BATCH_COUNT=500 LOG_LEVEL=info "$BIN/sink" \
		>>"$WORK/logs/sink.out" 2>>"$WORK/logs/sink.log" &
	SINKPID=$!
}
start_sink
wait_http "http://127.0.0.1:$SHP/ready" "sink"
log "running: $RATE msgs/s over $CHANNELS channels for ${DURATION}s; $KILLS kills of the sink (gap ${MIN_GAP}..${MAX_GAP} s, seed $SEED)"

# The kill schedule: gap before each kill and delay before each restart.
mapfile -t plan < <(python3 -c "
import random
r = random.Random($SEED)
for _ in range($KILLS):
    print(f'{r.uniform($MIN_GAP, $MAX_GAP):.3f} {r.choice([0, 0, r.uniform(0, 1)]):.3f}')
")
kills=0
for step in "${plan[@]}"; do
	read -r gap delay <<<"$step"
	sleep "$gap"
	kill -KILL "$SINKPID"
	wait "$SINKPID" 2>/dev/null || true
	kills=$((kills + 1))
	tmp=$(find "$DATA" -name '.part-*' | wc -l)
	echo "kill $kills after ${gap}s: temporary files left $tmp; restart in ${delay}s" >>"$WORK/kills.txt"
	sleep "$delay"
	start_sink
done
log "$kills kills done; waiting for the run to end and the sink to drain"

for _ in $(seq $((DURATION * 10 + 600))); do
	sim_done && break
	sleep 0.1
done
for _ in $(seq 600); do
	[ "$(rcli XLEN streamsafe:decisions)" -ge "$(rcli XLEN streamsafe:chat)" ] && break
	sleep 0.1
done
sleep 2 # executor results
# Stop the producers (the simulated moderators act with a delay, so mod
# events would keep coming): after this the streams are final.
for ((i = ${#pids[@]} - 1; i >= 1; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; wait "${pids[i]}" 2>/dev/null || true; done
pids=("${pids[0]}")
for _ in $(seq 300); do
	group_idle streamsafe:decisions sink && group_idle streamsafe:mod sink && group_idle streamsafe:executions sink && break
	sleep 0.2
done
kill -TERM "$SINKPID"
status=0
wait "$SINKPID" || status=$?
SINKPID=
log "sink stopped (exit status $status); checking"

cat "$WORK/kills.txt"
ok=1
[ "$status" = 0 ] || { echo "VIOLATION: sink exited with status $status on SIGTERM"; ok=0; }
"$BIN/sink" verify "$DATA" | tee "$WORK/verify.txt" || { echo "VIOLATION: sink verify failed"; ok=0; }
check=$("$BIN/raidstat" -redis "$REDIS_ADDR" -sink-check -sink-dir "$DATA" -decisions streamsafe:decisions) || ok=0
echo "$check"
read -r tmpremoved skipped < <(python3 - "$WORK/logs/sink.out" <<'PY'
import json, sys
tmp = skipped = 0
for line in open(sys.argv[1], errors="replace"):
    try:
        r = json.loads(line)
    except ValueError:
        continue  # a line torn by SIGKILL
    if r.get("msg") == "recovered stream directory":
        tmp += r.get("tmp_removed", 0)
    elif r.get("msg") == "acknowledging entries committed by an earlier run":
        skipped += r.get("count", 0)
print(tmp, skipped)
PY
)
echo "kills $kills; temporary files removed at restarts $tmpremoved; entries found committed but unacked at restarts $skipped"
python3 - "$check" "$kills" "$ok" "$tmpremoved" "$skipped" <<'PY'
import json, sys
c = json.loads(sys.argv[1])
out = {"kills": int(sys.argv[2]), "tmp_removed": int(sys.argv[4]), "committed_unacked_skipped": int(sys.argv[5]),
       "ok": sys.argv[3] == "1" and all(v["missing"] == 0 and v["duplicates"] == 0 and v["extra"] == 0 and v["unreadable"] == 0 for v in c.values())}
for k, v in sorted(c.items()):
    out[k] = v
print("OK" if out["ok"] else "FAILED")
print(json.dumps(out))
sys.exit(0 if out["ok"] else 1)
PY
