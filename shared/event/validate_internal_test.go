package event

import (
	"strconv"
	"testing"
)

func TestIsUUID5(t *testing.T) {
	for i := range 1000 {
		id := DecisionID(strconv.Itoa(i)+"-0", "m"+strconv.Itoa(i))
		if !isUUID5(id) {
			t.Fatalf("isUUID5(DecisionID) = false for %q", id)
		}
	}
	ok := "7c1b0d52-5b8e-5d0e-9a55-6f1f0b1e7a11"
	for _, bad := range []string{
		"", ok[:35], ok + "0", "7c1b0d52-5b8e-4d0e-9a55-6f1f0b1e7a11", "7c1b0d52-5b8e-5d0e-ca55-6f1f0b1e7a11",
		"7C1b0d52-5b8e-5d0e-9a55-6f1f0b1e7a11", "7c1b0d52_5b8e-5d0e-9a55-6f1f0b1e7a11", "7c1b0d52-5b8e-5d0e-9a55-6f1f0b1e7a1g",
		"7c1b0d5g-5b8e-5d0e-9a55-6f1f0b1e7a11", "7c1b0d52-5b8g-5d0e-9a55-6f1f0b1e7a11", "7c1b0d52-5b8e-5d0g-9a55-6f1f0b1e7a11",
		"7c1b0d52-5b8e-5d0e-9a5g-6f1f0b1e7a11",
	} {
		if isUUID5(bad) {
			t.Errorf("isUUID5(%q) = true", bad)
		}
	}
	if !isUUID5(ok) {
		t.Errorf("isUUID5(%q) = false", ok)
	}
}

func TestIsStreamID(t *testing.T) {
	for s, want := range map[string]bool{
		"0-0": true, "1700000000000-12": true, "": false, "-": false, "1-": false, "-1": false, "1": false, "1-2-3": false, "a-1": false, "1-1a": false,
	} {
		if got := isStreamID(s); got != want {
			t.Errorf("isStreamID(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestIsRuleName(t *testing.T) {
	for s, want := range map[string]bool{
		"snap": true, "latency_fallback": true, "x1": true, "": false, "1x": false, "_x": false, "Snap": false, "a,b": false, "a-b": false,
	} {
		if got := isRuleName(s); got != want {
			t.Errorf("isRuleName(%q) = %v, want %v", s, got, want)
		}
	}
}
