#!/usr/bin/env bash
# raid.sh: a self-contained load test of the StreamSafe-RL pipeline.
#
# Starts its own redis-server (unless REDIS_ADDR is set), the Twitch simulator
# and the pipeline stages asked for, drives --rate messages per second across
# --channels channels for --duration seconds, optionally forces RECONNECTs and
# disconnects, waits for the queues to drain, stops everything and prints a
# readable summary followed, as its LAST line, by one JSON object:
#   sent received published filtered rate_limited duplicates lost msgs_per_sec
#   p50_ms p99_ms peak_rss_mb{...} cpu_s{...} (and decided, decided_per_sec,
#   decide_p50_ms, decide_p99_ms, decision_duplicates, decide_lost,
#   decide_fail_open and decide_hist (decide's own latency histogram) with
#   --stages decide; and sunk plus sink_check with --stages all)
# It exits non-zero when lost > 0 (or, with decide, when a message has no
# decision or two; or, with all, when the sink's files do not hold every
# decision exactly once).
#
# Usage: scripts/raid.sh [--rate N] [--channels N] [--duration S]
#            [--reconnect-every S] [--disconnect-every S] [--stages ingest|decide|all]
#            [--rate-limit N] [--scenario steady|raid|reconnect] [--raid-every S]
#            [--probe-health] [--keep] [--feature-redis bus|own] [--redis-socket]
# Logs stay in .raid/<time>/logs; --keep also keeps the binaries, the Redis
# directories and the sink's files there.
# --feature-redis own runs decide's feature store on a redis-server of its own
# (DECIDE_FEATURE_REDIS_ADDR) instead of the stream bus's (bus, the default).
# --redis-socket has the services reach the Redis servers raid.sh starts
# over Unix sockets (REDIS_ADDR=unix:/path) instead of loopback TCP, as a
# deployment with Redis on the same host can.
# --scenario raid with --raid-every S announces a raid (a 10x burst on one
# channel) every S seconds; ingest's queue lengths are sampled every 0.5 s and
# their maxima are printed with the capacities.
# --probe-health samples ingest's RSS every 10 s and times GET /health every
# 100 ms for the whole run (what scripts/soak.sh uses).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
. scripts/lib.sh

RATE=10000 CHANNELS=50 DURATION=60 RECONNECT_EVERY=0 DISCONNECT_EVERY=0 STAGES=ingest RATE_LIMIT=auto KEEP=0 PROBE=0 SCENARIO=steady RAID_EVERY=0 FEATURE_REDIS=bus SOCKET=0
while [ $# -gt 0 ]; do
	case "$1" in
	--rate) RATE=$2; shift 2 ;;
	--channels) CHANNELS=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--reconnect-every) RECONNECT_EVERY=$2; shift 2 ;;
	--disconnect-every) DISCONNECT_EVERY=$2; shift 2 ;;
	--stages) STAGES=$2; shift 2 ;;
	--rate-limit) RATE_LIMIT=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	--probe-health) PROBE=1; shift ;;
	--scenario) SCENARIO=$2; shift 2 ;;
	--raid-every) RAID_EVERY=$2; shift 2 ;;
	--feature-redis) FEATURE_REDIS=$2; shift 2 ;;
	--redis-socket) SOCKET=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/{/^set -euo/d;p}' "$0"; exit 0 ;;
	*) echo "raid.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
case "$STAGES" in ingest | decide | all) ;; *) echo "raid.sh: --stages must be ingest, decide or all" >&2; exit 2 ;; esac
case "$FEATURE_REDIS" in bus | own) ;; *) echo "raid.sh: --feature-redis must be bus or own" >&2; exit 2 ;; esac

WORK=$ROOT/.raid/$(date +%Y%m%d-%H%M%S)
LOGS=$WORK/logs
mkdir -p "$WORK/bin" "$WORK/logs" "$WORK/redis"
log() { printf '[raid %s] %s\n' "$(date +%T)" "$*" >&2; }

log "building into $WORK/bin"
for b in ingest decide sink scripts/twitchsim scripts/raidstat; do
	go build -o "$WORK/bin/$(basename $b)" "./$b"
done


pids=()
names=()
cleanup() {
	trap - INT TERM EXIT
	stop_started
	[ "$KEEP" = 1 ] || rm -rf "$WORK/redis" "$WORK/redis-features" "$WORK/data" "$WORK/bin" # the logs stay
}
trap_cleanup cleanup
start() { start_bg "$1" "$WORK/logs/$1.out" "$WORK/logs/$1.log" "${@:2}"; } # name, command...

sockargs() { [ "$SOCKET" = 1 ] && echo --unixsocket "$1/redis.sock" --unixsocketperm 700; return 0; }
SVC_REDIS_ADDR=${REDIS_ADDR:-} # what the services use (raidstat and the simulator use TCP)
if [ -z "${REDIS_ADDR:-}" ]; then
	RP=$(freeport)
	start redis redis-server --bind 127.0.0.1 --port "$RP" --save "" --appendonly no --dir "$WORK/redis" $(sockargs "$WORK/redis")
	export REDIS_ADDR=127.0.0.1:$RP
	SVC_REDIS_ADDR=$REDIS_ADDR
	[ "$SOCKET" = 1 ] && SVC_REDIS_ADDR=unix:$WORK/redis/redis.sock
	for _ in $(seq 50); do redis-cli -p "$RP" ping >/dev/null 2>&1 && break; sleep 0.1; done
elif [ "$SOCKET" = 1 ]; then
	echo "raid.sh: --redis-socket needs the Redis raid.sh starts (REDIS_ADDR is set)" >&2; exit 2
fi
RHOST=${REDIS_ADDR%:*} RPORT=${REDIS_ADDR##*:}
FEATURE_ADDR=
if [ "$FEATURE_REDIS" = own ] && [ "$STAGES" != ingest ]; then
	FP=$(freeport)
	mkdir -p "$WORK/redis-features"
	start redis-features redis-server --bind 127.0.0.1 --port "$FP" --save "" --appendonly no --dir "$WORK/redis-features" $(sockargs "$WORK/redis-features")
	for _ in $(seq 50); do redis-cli -p "$FP" ping >/dev/null 2>&1 && break; sleep 0.1; done
	FEATURE_ADDR=127.0.0.1:$FP
	[ "$SOCKET" = 1 ] && FEATURE_ADDR=unix:$WORK/redis-features/redis.sock
fi
rcli() { redis-cli -h "$RHOST" -p "$RPORT" "$@"; }
rcli DEL streamsafe:chat streamsafe:mod streamsafe:decisions streamsafe:executions streamsafe:deadletter >/dev/null

WSP=$(freeport) CTLP=$(freeport) IHP=$(freeport) DHP=$(freeport) SHP=$(freeport)
SIM=http://127.0.0.1:$CTLP
simargs=(-ws "127.0.0.1:$WSP" -tcp "" -control "127.0.0.1:$CTLP" -rate "$RATE" -channels "$CHANNELS"
	-duration "${DURATION}s" -join-limit 0 -wait-join -seed 1 -log-level warn)
simargs+=(-scenario "$SCENARIO")
[ "$RECONNECT_EVERY" != 0 ] && simargs+=(-reconnect-every "${RECONNECT_EVERY}s")
[ "$RAID_EVERY" != 0 ] && simargs+=(-raid-every "${RAID_EVERY}s")
start twitchsim "$WORK/bin/twitchsim" "${simargs[@]}"
wait_http "$SIM/healthz" "simulator"

if [ "$RATE_LIMIT" = auto ]; then # per channel: twice the average share, so a steady run is not limited
	RATE_LIMIT=$(( (2 * RATE + CHANNELS - 1) / CHANNELS ))
fi
chans=$(seq -s, -f 'simchan%g' 0 $((CHANNELS - 1)))
start ingest env REDIS_ADDR="$SVC_REDIS_ADDR" INGEST_TWITCH_URL="ws://127.0.0.1:$WSP/" INGEST_CHANNELS="$chans" INGEST_HTTP_ADDR="127.0.0.1:$IHP" \
	INGEST_JOIN_LIMIT=2000 INGEST_RATE_LIMIT="$RATE_LIMIT" INGEST_RATE_LIMIT_BURST="$((2 * RATE_LIMIT))" \
	INGEST_CHAT_MAX_LEN=0 LOG_LEVEL=warn "$WORK/bin/ingest"
wait_http "http://127.0.0.1:$IHP/ready" "ingest"
if [ "$STAGES" != ingest ]; then
	start decide env REDIS_ADDR="$SVC_REDIS_ADDR" DECIDE_HTTP_ADDR="127.0.0.1:$DHP" DECIDE_DECISIONS_MAX_LEN=0 DECIDE_FEATURE_REDIS_ADDR="$FEATURE_ADDR" \
		LOG_LEVEL=warn "$WORK/bin/decide"
	wait_http "http://127.0.0.1:$DHP/ready" "decide"
fi
if [ "$STAGES" = all ]; then
	start sink env REDIS_ADDR="$SVC_REDIS_ADDR" SINK_HTTP_ADDR="127.0.0.1:$SHP" SINK_DIR="$WORK/data" SINK_FILE_AGE=5s LOG_LEVEL=warn "$WORK/bin/sink"
	wait_http "http://127.0.0.1:$SHP/ready" "sink"
fi
log "running: $RATE msgs/s over $CHANNELS channels for ${DURATION}s (stages: $STAGES, per-channel limit $RATE_LIMIT/s)"
if [ "$STAGES" != ingest ]; then
	log "decide: workers ${DECIDE_WORKERS:-default}, batch count ${DECIDE_BATCH_COUNT:-default}, read interval ${DECIDE_READ_INTERVAL:-0s}, feature store on the $FEATURE_REDIS Redis, $([ "$SOCKET" = 1 ] && echo "Unix sockets" || echo "TCP"), GOMAXPROCS ${GOMAXPROCS:-default}"
fi

# Forced disconnects (abrupt closes, mid-line) are driven from here; RECONNECTs by the simulator.
if [ "$DISCONNECT_EVERY" != 0 ]; then
	(while sleep "$DISCONNECT_EVERY"; do curl -fsS -XPOST "$SIM/control/disconnect?midline=1" >/dev/null || true; done) &
	DISC=$!
fi

if [ "$PROBE" = 1 ]; then
	IPID=$(pidof_name ingest)
	(while kill -0 "$IPID" 2>/dev/null; do
		echo "$(date +%s) $(awk '/VmRSS/ {print $2}' /proc/"$IPID"/status)" >>"$WORK/ingest_rss.txt"
		sleep 10
	done) &
	RSSLOOP=$!
	(while sleep 0.1; do
		curl -fsS -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$IHP/health" >>"$WORK/health_times.txt" 2>/dev/null || echo fail >>"$WORK/health_times.txt"
	done) &
	PROBELOOP=$!
fi

(while sleep 0.5; do
	curl -fsS "http://127.0.0.1:$IHP/metrics" 2>/dev/null | grep -E '^streamsafe_ingest_queue_(length|capacity)' >>"$WORK/queues.txt" || true
done) &
QLOOP=$!

# Wait for generation to end, then for the simulator's and ingest's queues to
# drain. Polling starts near the end: each poll is a few processes, which
# a 2-core box running the whole pipeline notices.
sleep $((DURATION > 2 ? DURATION - 2 : 0))
for _ in $(seq 140); do # every 0.5 s: three processes per poll are felt in the latency tail
	sleep 0.5
	sim_done && break
done
[ -n "${DISC:-}" ] && kill "$DISC" 2>/dev/null
drained() {
	curl -fsS "http://127.0.0.1:$IHP/metrics" | awk '/^streamsafe_ingest_lines_in_flight/ {s+=$2} END {exit (s==0)?0:1}'
}
for _ in $(seq 300); do drained && break; sleep 0.1; done
if [ "$STAGES" != ingest ]; then
	for _ in $(seq 600); do
		[ "$(rcli XLEN streamsafe:decisions)" -ge "$(rcli XLEN streamsafe:chat)" ] && break
		sleep 0.1
	done
fi
if [ "$STAGES" = all ]; then # the sink acks decisions once their file is committed
	for _ in $(seq 600); do
		group_idle streamsafe:decisions sink && break
		sleep 0.2
	done
fi
sleep 0.5
log "drained; collecting"
kill "$QLOOP" 2>/dev/null || true
awk '/queue_length/ {split($1, a, "\""); if ($2 > max[a[2]]) max[a[2]] = $2}
     /queue_capacity/ {split($1, a, "\""); cap[a[2]] = $2}
     END {printf "ingest queues (max length / capacity, in batches):"; for (s in cap) printf " %s %d/%d", s, max[s], cap[s]; print ""}' "$WORK/queues.txt"
if [ "$PROBE" = 1 ]; then
	kill "$PROBELOOP" "$RSSLOOP" 2>/dev/null || true
	python3 - "$WORK/ingest_rss.txt" "$WORK/health_times.txt" <<'PY'
import sys
rss = [l.split() for l in open(sys.argv[1]) if len(l.split()) == 2]
ts = [l.strip() for l in open(sys.argv[2]) if l.strip()]
fails = sum(1 for t in ts if t == "fail")
ms = sorted(float(t) * 1000 for t in ts if t != "fail")
q = lambda p: ms[min(len(ms) - 1, int(p * len(ms)))] if ms else float("nan")
first, last = int(rss[0][1]) / 1024, int(rss[-1][1]) / 1024
early = int(rss[min(3, len(rss) - 1)][1]) / 1024  # after 30 s of warm-up
print(f"ingest RSS: {first:.1f} MB at start, {early:.1f} MB after 30 s, {last:.1f} MB at end, max {max(int(r[1]) for r in rss) / 1024:.1f} MB ({len(rss)} samples)")
print(f"/health: {len(ms)} probes, p50 {q(0.5):.2f} ms, p99 {q(0.99):.2f} ms, max {ms[-1] if ms else float('nan'):.2f} ms, {fails} failed")
PY
fi

pidargs="twitchsim=$(pidof_name twitchsim),ingest=$(pidof_name ingest)"
[ -n "$(pidof_name redis)" ] && pidargs="$pidargs,redis=$(pidof_name redis)"
[ -n "$(pidof_name redis-features)" ] && pidargs="$pidargs,redis_features=$(pidof_name redis-features)"
[ "$STAGES" != ingest ] && pidargs="$pidargs,decide=$(pidof_name decide)"
[ "$STAGES" = all ] && pidargs="$pidargs,sink=$(pidof_name sink)"
decargs=()
[ "$STAGES" != ingest ] && decargs=(-decisions streamsafe:decisions -decide "http://127.0.0.1:$DHP/metrics")
[ "$STAGES" = all ] && decargs+=(-sink-dir "$WORK/data")
"$WORK/bin/raidstat" -summary -redis "$REDIS_ADDR" -sim "$SIM" -ingest "http://127.0.0.1:$IHP/metrics" \
	"${decargs[@]}" -pids "$pidargs" >"$WORK/summary.txt"
cat "$WORK/summary.txt"
last=$(tail -n 1 "$WORK/summary.txt")
python3 - "$last" <<'PY'
import json, sys
s = json.loads(sys.argv[1])
bad = s["lost"] > 0 or s["stream_duplicates"] > 0
if "decided" in s:
    bad = bad or s["decide_lost"] != 0 or s["decision_duplicates"] != 0
if "sunk" in s:
    c = s["sink_check"]
    bad = bad or s["sunk"] != s["decided"] or c["missing"] or c["duplicates"] or c["extra"] or c["unreadable"]
sys.exit(1 if bad else 0)
PY
