// Package logging builds the JSON slog loggers every StreamSafe-RL service
// uses and names the attribute keys they share, so logs from all services can
// be filtered with the same keys.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Attribute keys shared by all services. Keys are snake_case and constant.
const (
	KeyService       = "service"
	KeyComponent     = "component"
	KeyChannel       = "channel"
	KeyStream        = "stream"
	KeyStreamID      = "stream_id"
	KeyMsgID         = "msg_id"
	KeyReason        = "reason"
	KeyError         = "error"
	KeyCount         = "count"
	KeyLatencyMs     = "latency_ms"
	KeyFailureReason = "failure_reason"
	KeyDecisionPath  = "decision_path"
	KeyAddr          = "addr"
	KeyAttempt       = "attempt"
)

// ParseLevel parses "debug", "info", "warn" or "error" (case-insensitive).
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("parse log level %q: want debug, info, warn or error", s)
}

// New returns a JSON logger writing to w at the given level.
func New(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// Discard returns a logger that drops everything, for tests and benchmarks.
func Discard() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

// Err is the conventional attribute for an error.
func Err(err error) slog.Attr {
	if err == nil {
		return slog.String(KeyError, "")
	}
	return slog.String(KeyError, err.Error())
}
