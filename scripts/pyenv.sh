#!/usr/bin/env bash
# pyenv.sh creates (or updates) the Python environment of rl/ in rl/.venv:
# Python 3.11, every package pinned by rl/constraints.txt, the streamsafe_rl
# package installed editable, and Java 17 for PySpark. It is idempotent and
# returns at once when nothing changed: a stamp file in the venv holds the
# hash of rl/constraints.txt and rl/pyproject.toml.
#
# The first install downloads about 3.5 GB (PyTorch from PyPI is the CUDA build;
# it runs on the CPU) and takes several minutes.
#
# Environment: PYTHON (python3.11, else python3), RL_VENV (rl/.venv).
# Prints nothing on the fast path; progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=${RL_VENV:-$ROOT/rl/.venv}
STAMP=$VENV/.streamsafe-stamp

log() { printf 'pyenv: %s\n' "$*" >&2; }

want=$(cat rl/constraints.txt rl/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/python" ] && command -v java >/dev/null 2>&1; then
	exit 0
fi

if ! command -v java >/dev/null 2>&1; then
	log "java missing (PySpark needs Java 17): installing openjdk-17-jre-headless with apt-get"
	SUDO=""
	if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openjdk-17-jre-headless >/dev/null
fi

PY=${PYTHON:-}
if [ -z "$PY" ]; then
	if command -v python3.11 >/dev/null 2>&1; then PY=python3.11; else PY=python3; fi
fi
ver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$ver" != 3.11 ]; then
	log "need Python 3.11 (the pins in rl/constraints.txt are for 3.11), $PY is $ver; set PYTHON"
	exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
	log "creating $VENV"
	"$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
log "installing rl/ dependencies from rl/constraints.txt (slow the first time)"
"${PIP[@]}" install -q -c rl/constraints.txt pip setuptools
"${PIP[@]}" install -q -c rl/constraints.txt --no-build-isolation -e 'rl[dev]'
# Anything not pinned would make runs differ between machines: refuse it.
extra=$("${PIP[@]}" freeze --all --exclude streamsafe-rl | sort -f | comm -23 - <(grep -v '^#' rl/constraints.txt | sort -f) || true)
if [ -n "$extra" ]; then
	log "installed packages not pinned in rl/constraints.txt (add them):"
	printf '  %s\n' $extra >&2
	exit 1
fi
echo "$want" >"$STAMP"
log "ready: $VENV"
