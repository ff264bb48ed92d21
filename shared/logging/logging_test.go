package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
	"time"
)

func TestNew_JSON(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, slog.LevelInfo).With(KeyService, "ingest")
	log.Debug("hidden")
	log.Info("hello", KeyCount, 3)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("log line %q is not one JSON object: %v", buf.String(), err)
	}
	if m["service"] != "ingest" || m["msg"] != "hello" || m["count"] != float64(3) {
		t.Errorf("log = %v, want service=ingest msg=hello count=3", m)
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError} {
		got, err := ParseLevel(in)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v, want %v", in, got, err, want)
		}
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Error("ParseLevel(loud) succeeded, want error")
	}
}

func TestSampler(t *testing.T) {
	s := NewSampler(2, time.Second)
	t0 := time.Unix(100, 0)
	var allowed int
	for range 10 {
		if ok, _ := s.Allow(t0); ok {
			allowed++
		}
	}
	if allowed != 2 {
		t.Errorf("allowed %d in one window, want 2", allowed)
	}
	ok, sup := s.Allow(t0.Add(2 * time.Second))
	if !ok || sup != 8 {
		t.Errorf("next window Allow = %v, suppressed %d, want true, 8", ok, sup)
	}
}
