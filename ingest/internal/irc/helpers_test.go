package irc

import (
	"bytes"
	"os"
	"testing"
)

// realLines returns testdata/real_lines.txt, one entry per line; the entry for
// line number n is lines[n-1].
func realLines(tb testing.TB) [][]byte {
	tb.Helper()
	data, err := os.ReadFile("testdata/real_lines.txt")
	if err != nil {
		tb.Fatalf("read real lines: %v", err)
	}
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	if len(lines) != 107 {
		tb.Fatalf("real_lines.txt has %d lines, want 107", len(lines))
	}
	return lines
}

// realLine returns line number n (1-based) of testdata/real_lines.txt.
func realLine(tb testing.TB, n int) []byte {
	tb.Helper()
	return realLines(tb)[n-1]
}

// str renders a byte field for comparisons, keeping nil distinct from empty.
func str(b []byte) string {
	if b == nil {
		return "<nil>"
	}
	return string(b)
}

func equal[T comparable](tb testing.TB, what string, got, want T) {
	tb.Helper()
	if got != want {
		tb.Errorf("%s = %v, want %v", what, got, want)
	}
}

// within reports whether s is empty or a sub-slice of line (same backing
// array, inside its bounds).
func within(line, s []byte) bool {
	if len(s) == 0 {
		return true
	}
	off := cap(line) - cap(s)
	return off >= 0 && off+len(s) <= len(line) && &line[off] == &s[0]
}
