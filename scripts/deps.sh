#!/usr/bin/env bash
# deps.sh installs what StreamSafe-RL needs and is missing on a Debian-like
# machine: redis-server (apt), Go modules, and the Go lint tools. It is
# idempotent and called by `make demo` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'deps: %s\n' "$*" >&2; }

if ! command -v redis-server >/dev/null 2>&1; then
	log "redis-server missing: installing with apt-get"
	SUDO=""
	if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
	# The Debian package starts a system instance on :6379; the project never
	# uses it (tests and the demo start their own), so leave it be.
fi
command -v go >/dev/null 2>&1 || { log "go is not installed (need Go >= 1.26)"; exit 1; }

go mod download
if [ "${WITH_LINT:-0}" = 1 ] && ! command -v staticcheck >/dev/null 2>&1 && [ ! -x "$(go env GOPATH)/bin/staticcheck" ]; then
	log "installing staticcheck"
	go install honnef.co/go/tools/cmd/staticcheck@v0.8.2
fi
