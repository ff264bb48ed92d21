#!/usr/bin/env bash
# soak.sh: ingest soak test. Runs raid.sh at 2,000 messages/s across 50
# channels for 10 minutes (override with SOAK_RATE, SOAK_DURATION) while
# sampling ingest's RSS every 10 s and timing GET /health every 100 ms, and
# prints RSS at start and end and /health latency percentiles before the
# usual raid summary.
set -euo pipefail
cd "$(dirname "$0")/.."
exec scripts/raid.sh --rate "${SOAK_RATE:-2000}" --channels 50 --duration "${SOAK_DURATION:-600}" --probe-health "$@"
