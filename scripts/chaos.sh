#!/usr/bin/env bash
# chaos.sh: fault injection for the decide stage.
#
# Each run is self-contained: it builds the binaries into .raid/chaos-<time>/bin,
# starts its own redis-server(s) on free ports, the Twitch simulator (with its
# Helix API, which decide acts through), ingest and decide, drives --rate
# messages per second over --channels channels for --duration seconds, injects
# a fault, waits for the pipeline to drain, stops decide with SIGTERM and
# checks what was left with `raidstat -chaos` (scripts/raidstat/chaos*.go).
# Every run prints a readable summary and, as its last line, one JSON object;
# with --scenario all (or two kill variants) a final JSON line sums them up.
# The exit status is non-zero when any check failed.
#
# Usage: scripts/chaos.sh [--scenario kill|store|all] [--kill-mode takeover|restart|both]
#            [--rate N] [--channels N] [--duration S] [--kill-at S] [--restart-after S]
#            [--store-down-at S] [--store-outage S] [--max-timeout-share F]
#            [--helix-per-minute N] [--keep]
#
# Scenarios (all = kill, then store):
#   kill     Two decide replicas (DECIDE_CONSUMER_PREFIX chaosA and chaosB, the
#            same group). From --kill-at seconds into the generation on, replica
#            A is repeatedly frozen (SIGSTOP) and its consumers' pending entries
#            are inspected in one Lua call; it is killed (SIGKILL) at the first
#            freeze where one of its pending (read, not yet written) entries
#            already has an executor idempotency key, i.e. its action was
#            handed to the executor before the decision was written (the case
#            that can duplicate actions); after 15 s without such a moment, at
#            the first freeze with any pending entry (after 25 s, regardless).
#            Otherwise it is thawed (SIGCONT) and frozen again 50 ms later.
#            --kill-mode takeover: A stays dead; B must take A's pending
#              entries over with XAUTOCLAIM (DECIDE_MIN_IDLE=5s,
#              DECIDE_CLAIM_INTERVAL=1s on both replicas).
#            --kill-mode restart: A is restarted with the same prefix
#              --restart-after seconds later and must re-read its own pending
#              entries (default DECIDE_MIN_IDLE=60s, so B does not claim them).
#            --kill-mode both (default) runs takeover, then restart.
#   store    One decide with its feature store on a separate redis-server
#            (DECIDE_FEATURE_REDIS_ADDR). --store-down-at seconds into the
#            generation that Redis is killed (SIGKILL); --store-outage seconds
#            later a new, empty redis-server is started on the same port.
#
# Checks (raidstat -chaos; any failure is a VIOLATION line and exit status 1):
#   all      every chat entry has exactly one decision (by src_id; msg ids
#            decided once; no decision without a chat entry); XPENDING of the
#            group is 0 at the end; every decide still running at the end exits
#            0 on SIGTERM (it never crashed); no duplicate action: the
#            simulator's accepted Helix actions hold at most one delete per
#            message and, per (channel, user), no more timeouts (warns) than
#            messages of that user the executor claimed a TIMEOUT (WARN)
#            idempotency key for (keys are per (msg id, kind), one per attempted
#            action); no two `success` results of one (msg id, action kind) in
#            the executions stream; every `success` is the action logged in the
#            message's decision and matches an accepted Helix action; decide
#            never bans, clears the chat or deletes without a message id.
#   kill     the killed replica held pending entries, and at least that many
#            were claimed (XAUTOCLAIM) or re-read (own PEL) by live replicas.
#   store    decisions read during the outage (shrunk by 0.2 s at each end) are
#            IGNORE, decision_path fail_open, failure_reason feature_store_timeout
#            or feature_store_error, and their read -> written latency
#            ((entry id ms + 1) * 1000 - read_at_us) has p99 within DECIDE_BUDGET
#            (50 ms); scoring resumes: a deterministic decision within 5 s of
#            the store's return, and decisions read 5 s or more after it are
#            deterministic again (no feature_store_error; at most
#            --max-timeout-share, default 20%, feature_store_timeout: CPU
#            contention from other load on a shared box makes decide miss its
#            20 ms feature timeout in bursts, before the outage too; both
#            shares are printed) with some non-IGNORE actions; decide was never
#            restarted and exits 0 on SIGTERM.
#   Reported, not failed: Helix actions whose success result is missing and
#   decided actions never executed, both lost with a killed replica (the
#   executor is at most once: it claims the key before the Helix call).
#
# Helix limits: the simulator's points bucket and decide's HELIX_GLOBAL_LIMIT
# are raised to --helix-per-minute (default 60,000) so that most decided actions
# reach Helix and the duplicate checks see many accepted actions; the
# per-channel ban limits keep their defaults.
#
# Load stays modest (default 3,000 msgs/s) because the box is shared; a run
# takes about --duration + 10..35 s (all: about 2.5 minutes). Logs and the raidstat output of each run are
# in .raid/chaos-<time>/<run>/; --keep also keeps the Redis directories and
# the binaries (.raid/chaos-<time>/bin).
# Everything started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
. scripts/lib.sh

SCENARIO=all KILL_MODE=both RATE=3000 CHANNELS=50 DURATION=40 KEEP=0
KILL_AT=15 RESTART_AFTER=5 STORE_DOWN_AT=10 STORE_OUTAGE=10 HELIX_PER_MIN=60000 MAX_TIMEOUT_SHARE=0.2
while [ $# -gt 0 ]; do
	case "$1" in
	--scenario) SCENARIO=$2; shift 2 ;;
	--kill-mode) KILL_MODE=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--channels) CHANNELS=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--kill-at) KILL_AT=$2; shift 2 ;;
	--restart-after) RESTART_AFTER=$2; shift 2 ;;
	--store-down-at) STORE_DOWN_AT=$2; shift 2 ;;
	--store-outage) STORE_OUTAGE=$2; shift 2 ;;
	--helix-per-minute) HELIX_PER_MIN=$2; shift 2 ;;
	--max-timeout-share) MAX_TIMEOUT_SHARE=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
	*) echo "chaos.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
case "$SCENARIO" in kill | store | all) ;; *) echo "chaos.sh: --scenario must be kill, store or all" >&2; exit 2 ;; esac
case "$KILL_MODE" in takeover | restart | both) ;; *) echo "chaos.sh: --kill-mode must be takeover, restart or both" >&2; exit 2 ;; esac
if [ "$RATE" -gt 5000 ]; then echo "chaos.sh: --rate above 5000 is not allowed on this shared box" >&2; exit 2; fi

WORK=$ROOT/.raid/chaos-$(date +%Y%m%d-%H%M%S)
BIN=$WORK/bin
mkdir -p "$BIN"
log() { printf '[chaos %s] %s\n' "$(date +%T)" "$*" >&2; }
now_ms() { date +%s%3N; }

log "building into $BIN"
for b in ingest decide scripts/twitchsim scripts/raidstat; do
	go build -o "$BIN/$(basename $b)" "./$b"
done


# Processes of the current run, in start order. A process killed on purpose
# is removed (forget) so that its pid is never signalled again.
pids=()
names=()
stop_all() {
	local i
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -TERM "${pids[i]}" 2>/dev/null || true
		kill -CONT "${pids[i]}" 2>/dev/null || true # interrupted while a replica was frozen
	done
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do wait "${pids[i]}" 2>/dev/null || true; done
	pids=()
	names=()
}
cleanup() {
	trap - INT TERM EXIT
	stop_all
	[ "$KEEP" = 1 ] || rm -rf "$WORK"/*/redis "$WORK"/*/fsredis "$BIN" # the logs stay
}
trap_cleanup cleanup
start() { start_bg "$1" "$RUN/logs/$1.out" "$RUN/logs/$1.log" "${@:2}"; } # name, command...
forget() { # pid
	local i np=() nn=()
	for i in "${!pids[@]}"; do
		if [ "${pids[i]}" != "$1" ]; then np+=("${pids[i]}"); nn+=("${names[i]}"); fi
	done
	pids=("${np[@]}")
	names=("${nn[@]}")
}
event() { echo "$(now_ms) $*" >>"$RUN/timeline.txt"; log "$*"; }

start_redis() { # name, port, dir
	mkdir -p "$3"
	start "$1" redis-server --bind 127.0.0.1 --port "$2" --save "" --appendonly no --dir "$3"
	for _ in $(seq 100); do redis-cli -p "$2" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
	log "redis-server $1 did not start on port $2"
	exit 1
}
rcli() { redis-cli -h 127.0.0.1 -p "$BUS_PORT" "$@"; }

# setup_run NAME: a fresh run directory, stream bus and simulator.
setup_run() {
	RUN=$WORK/$1
	LOGS=$RUN/logs
	mkdir -p "$RUN/logs"
	: >"$RUN/timeline.txt"
	BUS_PORT=$(freeport)
	start_redis redis "$BUS_PORT" "$RUN/redis"
	BUS=127.0.0.1:$BUS_PORT
	WSP=$(freeport) CTLP=$(freeport) IHP=$(freeport)
	SIM=http://127.0.0.1:$CTLP
	start twitchsim "$BIN/twitchsim" -ws "127.0.0.1:$WSP" -tcp "" -control "127.0.0.1:$CTLP" -rate "$RATE" \
		-channels "$CHANNELS" -duration "${DURATION}s" -join-limit 0 -wait-join -seed 1 -log-level warn \
		-helix-points-per-minute "$HELIX_PER_MIN"
	wait_http "$SIM/healthz" "simulator"
}

# start_decide NAME PREFIX PORT [VAR=VALUE ...]: a decide replica acting
# through the simulator's Helix API.
start_decide() {
	local name=$1 prefix=$2 port=$3
	shift 3
	start "$name" env REDIS_ADDR="$BUS" DECIDE_HTTP_ADDR="127.0.0.1:$port" DECIDE_CONSUMER_PREFIX="$prefix" \
		DECIDE_DECISIONS_MAX_LEN=0 HELIX_BASE_URL="$SIM/helix" TWITCH_CLIENT_ID=streamsafe-sim \
		TWITCH_TOKEN=sim-token TWITCH_MODERATOR_ID=754490142 HELIX_GLOBAL_LIMIT="$HELIX_PER_MIN" LOG_LEVEL=info \
		"$@" "$BIN/decide"
	wait_http "http://127.0.0.1:$port/health" "$name"
}

# start_ingest: ingest on every channel; generation starts once it joined.
start_ingest() {
	local limit=$(((2 * RATE + CHANNELS - 1) / CHANNELS))
	start ingest env REDIS_ADDR="$BUS" INGEST_TWITCH_URL="ws://127.0.0.1:$WSP/" \
		INGEST_CHANNELS="$(seq -s, -f 'simchan%g' 0 $((CHANNELS - 1)))" INGEST_HTTP_ADDR="127.0.0.1:$IHP" \
		INGEST_JOIN_LIMIT=2000 INGEST_RATE_LIMIT="$limit" INGEST_RATE_LIMIT_BURST="$((2 * limit))" \
		INGEST_CHAT_MAX_LEN=0 LOG_LEVEL=warn "$BIN/ingest"
	wait_http "http://127.0.0.1:$IHP/ready" "ingest"
	for _ in $(seq 300); do
		curl -fsS "$SIM/stats" | python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["generated"] > 0 else 1)' && break
		sleep 0.1
	done
	event "generation started: $RATE msgs/s over $CHANNELS channels for ${DURATION}s"
}

# pending_of PREFIX: "<pending> <acted>": entries pending for the consumers
# PREFIX-<n> of the group, and how many of them already have an executor
# idempotency key (their action was handed over before the decision was
# written). One Lua call, so it is a consistent snapshot.
PENDING_LUA='
local pending, acted = 0, 0
for _, c in ipairs(redis.call("XINFO", "CONSUMERS", KEYS[1], ARGV[1])) do
	local name, n = c[2], c[4]
	if string.sub(name, 1, #ARGV[2]) == ARGV[2] and n > 0 then
		for _, p in ipairs(redis.call("XPENDING", KEYS[1], ARGV[1], "-", "+", 100000, name)) do
			pending = pending + 1
			local e = redis.call("XRANGE", KEYS[1], p[1], p[1])
			local f = e[1] and e[1][2] or {}
			for i = 1, #f - 1, 2 do
				if f[i] == "msg_id" then
					local m = ARGV[3] .. f[i + 1] .. ":"
					if redis.call("EXISTS", m .. "WARN", m .. "DELETE", m .. "TIMEOUT") > 0 then acted = acted + 1 end
				end
			end
		end
	end
end
return pending .. " " .. acted'
pending_of() { rcli EVAL "$PENDING_LUA" 1 streamsafe:chat decide "$1-" streamsafe:idem:; }

# wait_drain PORT...: generation over, ingest drained, every chat entry
# decided and acked, the executors' queues empty (the live decides' /metrics
# on PORTs).
wait_drain() {
	local i
	for _ in $(seq $((DURATION * 10 + 600))); do
		sim_done && break
		sleep 0.1
	done
	for _ in $(seq 300); do
		curl -fsS "http://127.0.0.1:$IHP/metrics" 2>/dev/null | awk '/^streamsafe_ingest_lines_in_flight/ {s+=$2} END {exit (s==0)?0:1}' && break
		sleep 0.1
	done
	for i in $(seq 1800); do
		if [ "$(rcli XLEN streamsafe:decisions)" -ge "$(rcli XLEN streamsafe:chat)" ] &&
			[ "$(rcli XPENDING streamsafe:chat decide | head -n 1)" = 0 ]; then
			break
		fi
		sleep 0.1
	done
	[ "$i" = 1800 ] && log "not drained after 180 s (the checks will say what is missing)"
	for port in "$@"; do
		for _ in $(seq 300); do
			curl -fsS "http://127.0.0.1:$port/metrics" 2>/dev/null | awk '/^streamsafe_decide_executor_queue_depth/ {s+=$2} END {exit (s==0)?0:1}' && break
			sleep 0.1
		done
	done
	sleep 1
	event "drained: chat $(rcli XLEN streamsafe:chat), decisions $(rcli XLEN streamsafe:decisions), executions $(rcli XLEN streamsafe:executions)"
}

# stop_decides NAME=PORT...: scrape the replicas' metrics into
# $RUN/metrics.json, stop them with SIGTERM and set EXITS to name=status,...
stop_decides() {
	local kv name pid rc mets=()
	for kv in "$@"; do mets+=("${kv%%=*}=http://127.0.0.1:${kv#*=}/metrics"); done
	"$BIN/raidstat" -redis "$BUS" -chat "" -metrics "$(IFS=,; echo "${mets[*]}")" >"$RUN/metrics.json"
	EXITS=""
	for kv in "$@"; do
		name=${kv%%=*}
		pid=$(pidof_name "$name")
		kill -TERM "$pid" 2>/dev/null || true
		rc=0
		wait "$pid" || rc=$?
		forget "$pid"
		EXITS="${EXITS:+$EXITS,}$name=$rc"
	done
	event "decide stopped: $EXITS"
}

# check SCENARIO ARGS...: raidstat -chaos; prints its output, records the
# JSON line, returns its status.
check() {
	local rc=0
	"$BIN/raidstat" -redis "$BUS" -chat streamsafe:chat -decisions streamsafe:decisions -sim "$SIM" \
		-metrics-file "$RUN/metrics.json" -exits "$EXITS" -chaos "$@" >"$RUN/check.txt" 2>"$RUN/check.err" || rc=$?
	cat "$RUN/check.txt"
	[ -s "$RUN/check.err" ] && cat "$RUN/check.err" >&2
	if [ "$rc" != 0 ] && ! tail -n 1 "$RUN/check.txt" | grep -q '^{'; then
		echo "{\"scenario\":\"$(basename "$RUN")\",\"ok\":false,\"error\":\"raidstat failed, see $RUN/check.err\"}" >>"$RUN/check.txt"
	fi
	tail -n 1 "$RUN/check.txt" | python3 -c 'import json,sys; d=json.load(sys.stdin); d["run"]=sys.argv[1]; print(json.dumps(d))' "$(basename "$RUN")" >>"$WORK/results.jsonl"
	return "$rc"
}

run_kill() { # takeover|restart
	local variant=$1 extra=() dha dhb pid pending=0 acted=0 kill_ms restart_ms=0 t_any t_end
	setup_run "kill-$variant"
	[ "$variant" = takeover ] && extra=(DECIDE_MIN_IDLE=5s DECIDE_CLAIM_INTERVAL=1s)
	dha=$(freeport) dhb=$(freeport)
	start_decide decideA chaosA "$dha" "${extra[@]}"
	start_decide decideB chaosB "$dhb" "${extra[@]}"
	start_ingest
	sleep "$KILL_AT"
	pid=$(pidof_name decideA)
	t_any=$(($(now_ms) + 15000)) t_end=$(($(now_ms) + 25000))
	while :; do
		kill -STOP "$pid"
		read -r pending acted <<<"$(pending_of chaosA)"
		[ "$acted" -gt 0 ] && break
		[ "$pending" -gt 0 ] && [ "$(now_ms)" -gt "$t_any" ] && break
		[ "$(now_ms)" -gt "$t_end" ] && break
		kill -CONT "$pid"
		sleep 0.05
	done
	kill -KILL "$pid"
	kill_ms=$(now_ms)
	wait "$pid" 2>/dev/null || true
	forget "$pid"
	sleep 0.2
	read -r pending acted <<<"$(pending_of chaosA)" # after the kill: nothing can ack them any more
	event "decideA (pid $pid) killed with SIGKILL holding $pending pending entries, $acted of them already handed to the executor"
	local live=(decideB="$dhb") ports=("$dhb")
	if [ "$variant" = restart ]; then
		sleep "$RESTART_AFTER"
		restart_ms=$(now_ms)
		start_decide decideA2 chaosA "$dha"
		event "decideA restarted with the same prefix chaosA (pid $(pidof_name decideA2))"
		live=(decideA2="$dha" decideB="$dhb") ports=("$dha" "$dhb")
	fi
	wait_drain "${ports[@]}"
	stop_decides "${live[@]}"
	local rc=0
	check kill -variant "$variant" -fault-at "$kill_ms" -recover-at "$restart_ms" -pending-at-fault "$pending" -acted-at-fault "$acted" || rc=$?
	stop_all
	return "$rc"
}

run_store() {
	local dh fsp fspid down_ms up_ms rc=0
	setup_run store
	dh=$(freeport) fsp=$(freeport)
	start_redis fsredis "$fsp" "$RUN/fsredis/1"
	start_decide decide chaosS "$dh" DECIDE_FEATURE_REDIS_ADDR="127.0.0.1:$fsp"
	start_ingest
	sleep "$STORE_DOWN_AT"
	fspid=$(pidof_name fsredis)
	kill -KILL "$fspid"
	down_ms=$(now_ms)
	wait "$fspid" 2>/dev/null || true
	forget "$fspid"
	event "feature-store redis (pid $fspid, port $fsp) killed with SIGKILL"
	sleep "$STORE_OUTAGE"
	start_redis fsredis2 "$fsp" "$RUN/fsredis/2"
	up_ms=$(now_ms)
	event "feature-store redis restarted empty on port $fsp (pid $(pidof_name fsredis2))"
	wait_drain "$dh"
	local dpid
	dpid=$(pidof_name decide)
	if kill -0 "$dpid" 2>/dev/null; then event "decide (pid $dpid) still running"; else event "decide (pid $dpid) is NOT running"; fi
	stop_decides decide="$dh"
	check store -fault-at "$down_ms" -recover-at "$up_ms" -budget 50ms -max-fail-open-after "$MAX_TIMEOUT_SHARE" || rc=$?
	stop_all
	return "$rc"
}

status=0
if [ "$SCENARIO" = kill ] || [ "$SCENARIO" = all ]; then
	[ "$KILL_MODE" = restart ] || run_kill takeover || status=1
	[ "$KILL_MODE" = takeover ] || run_kill restart || status=1
fi
if [ "$SCENARIO" = store ] || [ "$SCENARIO" = all ]; then
	run_store || status=1
fi
if [ -f "$WORK/results.jsonl" ] && [ "$(wc -l <"$WORK/results.jsonl")" -gt 1 ]; then
	python3 - "$WORK/results.jsonl" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
res = {r["run"]: {"ok": r.get("ok", False), "violations": r.get("violations", [r.get("error", "")])} for r in runs}
print(json.dumps({"chaos": res, "ok": all(r["ok"] for r in res.values())}))
PY
fi
exit "$status"
