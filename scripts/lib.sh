# lib.sh: helpers shared by the load and fault scripts (raid.sh, chaos.sh,
# sinkcrash.sh, train.sh). Source it; it defines functions only.
#   freeport               a free loopback TCP port
#   wait_http URL WHAT     wait up to 30 s for URL to answer 2xx, else log and exit 1
#                          (names $LOGS, the caller's log directory, in the message)
#   sim_done               the simulator ($SIM) finished generating and has nothing in flight
#   group_idle STREAM GROUP  the consumer group read everything and acknowledged it (lag 0 or
#                          unknown, pending 0); needs the caller's rcli function
#   start_bg NAME OUT ERR CMD...  run CMD in the background, its stdout in OUT and stderr in
#                          ERR (one file when the same), appending its pid to pids and NAME to names
#   pidof_name NAME        the pid started under NAME
#   stop_started           SIGTERM every started process, newest first, and wait for them
#   trap_cleanup FN        run FN at exit; after SIGINT/SIGTERM run it and exit 130/143 (a trap
#                          handler would otherwise return to where the script was interrupted)
# The caller defines log() and, for the process helpers, the arrays pids=() and names=().

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() {
	for _ in $(seq 300); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
	log "$2 did not become ready ($1); logs in ${LOGS:-.}"
	exit 1
}

# A grep, not a Python start-up per poll: the poll runs every 0.1 s on a box
# the load test needs.
sim_done() { curl -fsS "$SIM/stats" | tr -d ' \n' | grep -q '"done":true.*"inflight":0[,}]\|"inflight":0[,}].*"done":true'; }

group_idle() {
	rcli XINFO GROUPS "$1" 2>/dev/null | awk -v g="$2" '
		want != "" { if (want == "name") cur = $0; else if (cur == g) val[want] = $0; want = ""; next }
		$0 == "name" || $0 == "pending" || $0 == "lag" { want = $0 }
		END { exit (("pending" in val) && val["pending"] == "0" && (val["lag"] == "0" || val["lag"] == "")) ? 0 : 1 }'
}

start_bg() {
	local name=$1 out=$2 err=$3
	shift 3
	if [ "$out" = "$err" ]; then "$@" >"$out" 2>&1 & else "$@" >"$out" 2>"$err" & fi
	pids+=($!)
	names+=("$name")
}

pidof_name() {
	local i
	for i in "${!names[@]}"; do if [ "${names[i]}" = "$1" ]; then echo "${pids[i]}"; fi; done
	return 0
}

stop_started() {
	local i
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
	wait 2>/dev/null || true
}

trap_cleanup() {
	trap "$1" EXIT
	trap "$1; exit 130" INT
	trap "$1; exit 143" TERM
}
