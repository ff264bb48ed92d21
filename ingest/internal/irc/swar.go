package irc

import (
	"encoding/binary"
	"math/bits"
)

// SWAR ("SIMD within a register"): byte search eight bytes at a time in a
// plain uint64, for the short distances inside a tag section where a call to
// bytes.IndexByte costs more than the scan itself. The helpers are small
// enough to be inlined into the tag loops.

const (
	lo8 = 0x0101010101010101
	hi8 = 0x8080808080808080
)

// firstMatch returns a word whose lowest set bit is the high bit of the
// first (lowest-addressed) byte of x equal to the byte repeated in pat
// (pat = b * lo8), or 0 if there is none. This is the classic "has zero
// byte" test on x^pat: bits above the lowest one can be false positives
// (a borrow from the matching byte), so only the lowest set bit is used.
func firstMatch(x, pat uint64) uint64 {
	y := x ^ pat
	return (y - lo8) &^ y & hi8
}

// indexSemi returns the index of the first ';' in b, or -1.
func indexSemi(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if m := firstMatch(binary.LittleEndian.Uint64(b[i:]), ';'*lo8); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b); i++ {
		if b[i] == ';' {
			return i
		}
	}
	return -1
}

// indexComma returns the index of the first ',' in b, or -1.
func indexComma(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if m := firstMatch(binary.LittleEndian.Uint64(b[i:]), ','*lo8); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b); i++ {
		if b[i] == ',' {
			return i
		}
	}
	return -1
}

// indexEq returns the index of the first '=' in b, or -1.
func indexEq(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if m := firstMatch(binary.LittleEndian.Uint64(b[i:]), '='*lo8); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(b); i++ {
		if b[i] == '=' {
			return i
		}
	}
	return -1
}

// splitTag splits one tag (no ';') on its first '='. A tag without '=' has
// an empty, non-nil value.
func splitTag(tag []byte) (key, val []byte) {
	if k := indexEq(tag); k >= 0 {
		return tag[:k], tag[k+1:]
	}
	return tag, tag[len(tag):]
}
