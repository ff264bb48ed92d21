# StreamSafe-RL. The two commands a new machine needs:
#   make demo   install what is missing, run the whole pipeline locally until Ctrl-C
#   make test   install what is missing, run every test (Redis-backed tests required)

GO        ?= go
BIN       := bin
GOBIN     := $(shell $(GO) env GOPATH)/bin
SERVICES  := ingest decide sink
TOOLS     := scripts/twitchsim scripts/raidstat

.PHONY: all deps build demo test lint gotest fuzz bench raid soak clean rl-env rl-lint pytest train

all: build

deps:
	@scripts/deps.sh

build: deps
	@mkdir -p $(BIN)
	@for s in $(SERVICES) $(TOOLS); do \
		if [ -f $$s/main.go ]; then $(GO) build -o $(BIN)/$$(basename $$s) ./$$s || exit 1; fi; \
	done

demo: build
	@scripts/demo.sh

lint:
	@WITH_LINT=1 scripts/deps.sh
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
		if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	PATH="$(GOBIN):$$PATH" staticcheck ./...

gotest:
	REDISTEST_REQUIRED=1 $(GO) test -count=1 -timeout 20m ./...

test: deps lint gotest rl-lint pytest

# The Python side (rl/): its virtualenv (scripts/pyenv.sh: pinned, idempotent),
# lint, and tests. The learning tests run the real pipeline once (bin/ built).
rl-env:
	@scripts/pyenv.sh

rl-lint: rl-env
	cd rl && .venv/bin/ruff check src tests && .venv/bin/ruff format --check src tests && .venv/bin/mypy

pytest: build rl-env
	cd rl && .venv/bin/python -m pytest -q

# The whole offline learning loop at small scale (pipeline logs, rewards,
# training, evaluation, ONNX export, report).
train: build rl-env
	scripts/train.sh

# Short benchmark run of every hot path (numbers in the notes come from here).
bench:
	$(GO) test -run '^$$' -bench . -benchtime 1s -count 1 ./...

# Fuzz the IRC parser for 60 s (the seed corpus already runs in `make test`).
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s ./ingest/internal/irc

raid: build
	scripts/raid.sh

soak: build
	scripts/soak.sh

clean:
	rm -rf $(BIN) .demo .raid
