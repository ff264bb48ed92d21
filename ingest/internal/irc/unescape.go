package irc

import "bytes"

// Unescape decodes an IRCv3 tag value in one left-to-right pass:
//
//	\:  ->  ;        \s  ->  space      \\  ->  \
//	\r  ->  CR       \n  ->  LF         \X  ->  X (any other byte)
//	a lone trailing \ is dropped
//
// so "\\s" becomes `\s`, not `\ `. When v contains no backslash, Unescape
// returns v itself without copying. Otherwise the result is written to
// dst[:0] (reusing its capacity, growing it if needed) and returned; pass a
// reused scratch buffer to avoid allocating.
func Unescape(dst, v []byte) []byte {
	i := bytes.IndexByte(v, '\\')
	if i < 0 {
		return v
	}
	dst = append(dst[:0], v[:i]...)
	for ; i < len(v); i++ {
		b := v[i]
		if b != '\\' {
			dst = append(dst, b)
			continue
		}
		i++
		if i == len(v) {
			break // lone trailing backslash
		}
		switch b = v[i]; b {
		case ':':
			b = ';'
		case 's':
			b = ' '
		case 'r':
			b = '\r'
		case 'n':
			b = '\n'
		}
		dst = append(dst, b)
	}
	if dst == nil {
		return v[:0] // empty but non-nil, like any present value
	}
	return dst
}
