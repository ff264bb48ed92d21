#!/usr/bin/env bash
# demo.sh runs the whole pipeline locally until Ctrl-C: a private
# redis-server, the Twitch simulator, ingest, decide and sink (when built). It
# is what `make demo` runs after building into ./bin. Everything it starts is
# stopped on exit; state lives in ./.demo (removed on the next run) and the
# Parquet files the sink writes in ./data (kept: the RL loop reads them).
#
# Environment: DEMO_REDIS_PORT (6390), DEMO_RATE (200 msgs/s), DEMO_CHANNELS (8),
# DEMO_SCENARIO (raid: a 10x raid burst every 60 s), DEMO_DATA (./data).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=$ROOT/bin
DIR=$ROOT/.demo
PORT=${DEMO_REDIS_PORT:-6390}
RATE=${DEMO_RATE:-200}
CHANNELS=${DEMO_CHANNELS:-8}
SCENARIO=${DEMO_SCENARIO:-raid}
DATA=${DEMO_DATA:-$ROOT/data}
SIM_WS=127.0.0.1:8765
SIM_CTL=127.0.0.1:8766

for b in twitchsim ingest; do
	[ -x "$BIN/$b" ] || { echo "demo: $BIN/$b missing: run 'make demo' (it builds first)" >&2; exit 1; }
done
rm -rf "$DIR"
mkdir -p "$DIR/redis" "$DIR/logs"

pids=()
cleanup() {
	trap - INT TERM EXIT
	echo
	echo "demo: stopping..."
	# Newest first, each waited for, so that the services drain into a
	# Redis that is still up.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -TERM "${pids[i]}" 2>/dev/null || true
		wait "${pids[i]}" 2>/dev/null || true
	done
	echo "demo: stopped. Logs are in $DIR/logs."
}
trap cleanup EXIT
trap 'cleanup; exit 0' INT TERM

if redis-cli -p "$PORT" ping >/dev/null 2>&1; then
	echo "demo: something already answers on port $PORT; stop it or set DEMO_REDIS_PORT" >&2
	exit 1
fi
# Children run in their own sessions (setsid) so that Ctrl-C reaches only this
# script, which then stops each of them with exactly one SIGTERM (a second
# signal would make a service skip its graceful drain).
setsid redis-server --bind 127.0.0.1 --port "$PORT" --save "" --appendonly no --dir "$DIR/redis" \
	--logfile "$DIR/logs/redis.log" &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
if ! kill -0 "${pids[0]}" 2>/dev/null || ! redis-cli -p "$PORT" ping >/dev/null 2>&1; then
	echo "demo: redis-server did not start (port $PORT busy? set DEMO_REDIS_PORT); see $DIR/logs/redis.log" >&2
	exit 1
fi
export REDIS_ADDR=127.0.0.1:$PORT

chans=$(seq -s, -f 'simchan%g' 0 $((CHANNELS - 1)))
setsid "$BIN/twitchsim" -ws "$SIM_WS" -tcp "" -control "$SIM_CTL" -rate "$RATE" -channels "$CHANNELS" \
	-scenario "$SCENARIO" -raid-every 60s -truth-file "$DIR/truth.jsonl" -wait-join \
	-mods -redis-addr "$REDIS_ADDR" \
	>"$DIR/logs/twitchsim.out" 2>"$DIR/logs/twitchsim.log" &
pids+=($!)
sleep 0.3

INGEST_TWITCH_URL="ws://$SIM_WS/" INGEST_CHANNELS="$chans" INGEST_HTTP_ADDR=127.0.0.1:9101 \
	setsid "$BIN/ingest" >"$DIR/logs/ingest.log" 2>&1 &
pids+=($!)

if [ -x "$BIN/decide" ]; then
	# decide acts through the simulator's Helix API with its built-in dev credentials.
	DECIDE_HTTP_ADDR=127.0.0.1:9102 HELIX_BASE_URL="http://$SIM_CTL/helix" TWITCH_CLIENT_ID=streamsafe-sim \
		TWITCH_TOKEN=sim-token TWITCH_MODERATOR_ID=754490142 setsid "$BIN/decide" >"$DIR/logs/decide.log" 2>&1 &
	pids+=($!)
fi

if [ -x "$BIN/sink" ]; then
	# The demo's Redis starts empty, so the sink's consumer groups do too:
	# files of an earlier demo stay and new ones are added next to them.
	SINK_DIR="$DATA" SINK_HTTP_ADDR=127.0.0.1:9103 SINK_FILE_AGE=10s setsid "$BIN/sink" >"$DIR/logs/sink.log" 2>&1 &
	pids+=($!)
fi

cat <<MSG

StreamSafe-RL demo is running (Ctrl-C stops everything).
  Twitch simulator  ws://$SIM_WS  ($RATE msgs/s over $CHANNELS channels, scenario $SCENARIO); stats: curl -s http://$SIM_CTL/stats
  ingest            metrics: curl -s 127.0.0.1:9101/metrics | grep streamsafe_ingest_   ready: curl -s 127.0.0.1:9101/ready
  decide            metrics: curl -s 127.0.0.1:9102/metrics | grep streamsafe_decide_
  sink              Parquet files in $DATA (every 10 s); check them: bin/sink verify $DATA
  redis             redis-cli -p $PORT
Look at the data:
  redis-cli -p $PORT XREVRANGE streamsafe:chat + - COUNT 3
  redis-cli -p $PORT XREVRANGE streamsafe:mod + - COUNT 3
  redis-cli -p $PORT XREVRANGE streamsafe:decisions + - COUNT 3
Actions decide took (through the simulated Helix): curl -s http://$SIM_CTL/control/helix-actions
Force a reconnect: curl -s -XPOST http://$SIM_CTL/control/reconnect    a raid: curl -s -XPOST http://$SIM_CTL/control/raid
Logs (JSON): $DIR/logs/

MSG

while true; do
	sleep 5 &
	wait $! # interruptible: the INT/TERM trap runs at once
	for p in "${pids[@]}"; do
		kill -0 "$p" 2>/dev/null || { echo "demo: a process exited; see $DIR/logs/" >&2; exit 1; }
	done
	line="$(date +%T) chat=$(redis-cli -p "$PORT" XLEN streamsafe:chat) mod=$(redis-cli -p "$PORT" XLEN streamsafe:mod)"
	if [ -x "$BIN/decide" ]; then
		line="$line decisions=$(redis-cli -p "$PORT" XLEN streamsafe:decisions) executions=$(redis-cli -p "$PORT" XLEN streamsafe:executions)"
	fi
	if [ -x "$BIN/sink" ]; then
		line="$line sunk_rows=$(curl -fsS 127.0.0.1:9103/metrics 2>/dev/null | awk '/^streamsafe_sink_rows_total/ {s+=$2} END {print s+0}')"
	fi
	echo "$line"
done
