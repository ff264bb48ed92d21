package features

import (
	"strings"
	"testing"
)

// TestHash64 checks hash64 against XXH64 (seed 0) values computed with
// github.com/cespare/xxhash/v2 v2.3.0, covering every code path (< 4, < 8,
// < 32 and >= 32 bytes with tails).
func TestHash64(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
	}{
		{"", 0xef46db3751d8e999},
		{"a", 0xd24ec4f1a98c6e5b},
		{"abc", 0x44bc2cf5ad770999},
		{"idiot", 0x8fd8f20e735146f6},
		{"0123456789abcdef0123456789abcdef", 0x642a94958e71e6c5},
		{strings.Repeat("copypasta text ", 7) + "x", 0x2eddcd82d9bf66b1},
	}
	for _, tt := range tests {
		if got := hash64([]byte(tt.in)); got != tt.want {
			t.Errorf("hash64(%q) = %#x, want %#x", tt.in, got, tt.want)
		}
	}
}
