package irc

import (
	"bytes"
	"errors"
)

// DefaultMaxLineBytes is the line limit Parse applies when the caller passes
// maxLen <= 0. Twitch lines exceed RFC 1459's 512 bytes (a reply carries two
// 500-character bodies plus tags), so the budget is 8 KiB.
const DefaultMaxLineBytes = 8192

// Sentinel errors. Every error returned by this package matches one of them
// with errors.Is; malformed-line errors carry a more specific message.
var (
	ErrEmpty     = errors.New("irc: empty line")
	ErrTooLong   = errors.New("irc: line too long")
	ErrMalformed = errors.New("irc: malformed line")
	// ErrCommand is returned by ParseChat and ParseMod for a Message whose
	// command they do not handle.
	ErrCommand = errors.New("irc: unexpected command")
)

// malformedError is a constant, allocation-free error that matches
// ErrMalformed and says what was wrong.
type malformedError string

func (e malformedError) Error() string        { return "irc: malformed line: " + string(e) }
func (e malformedError) Is(target error) bool { return target == ErrMalformed }

const (
	errTagsOnly      malformedError = "tags without command"
	errPrefixOnly    malformedError = "prefix without command"
	errEmptyPrefix   malformedError = "empty prefix"
	errBadCommand    malformedError = "invalid command"
	errNoChannel     malformedError = "no channel"
	errNoText        malformedError = "no message text"
	errEmptyTagBlock malformedError = "empty tag section"
)

// Message is one parsed IRC line. Every slice aliases the line passed to
// Parse; a field is nil when the line does not have that part.
type Message struct {
	Command    Command
	RawCommand []byte // the command word as on the wire, e.g. "PRIVMSG" or "001"
	Tags       []byte // tag section without the leading '@', still escaped
	Prefix     []byte // source without the leading ':'
	Nick       []byte // Prefix up to the first '!' or '@'; the whole Prefix (a host) if it has neither
	Channel    []byte // first middle param that starts with '#', without the '#'
	Params     []byte // middle params, raw: after the command, before " :"
	Trailing   []byte // trailing param exactly as on the wire (CTCP bytes included)
	// HasTrailing distinguishes an empty trailing param ("... :") from none.
	HasTrailing bool
}

// Parse parses one IRC line (without CR/LF; a single trailing CR is
// tolerated) into m, overwriting all of its fields. It does not allocate: all
// fields of m are sub-slices of line. maxLen <= 0 means DefaultMaxLineBytes;
// longer lines return ErrTooLong so the caller can count and drop them.
func Parse(line []byte, maxLen int, m *Message) error {
	*m = Message{}
	if maxLen <= 0 {
		maxLen = DefaultMaxLineBytes
	}
	if len(line) > maxLen {
		return ErrTooLong
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	if len(line) == 0 {
		return ErrEmpty
	}

	i := 0
	if line[0] == '@' {
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 {
			return errTagsOnly
		}
		if sp == 1 {
			return errEmptyTagBlock
		}
		m.Tags = line[1:sp]
		i = skipSpaces(line, sp)
	}
	if i < len(line) && line[i] == ':' {
		sp := bytes.IndexByte(line[i:], ' ')
		if sp < 0 {
			return errPrefixOnly
		}
		if sp == 1 {
			return errEmptyPrefix
		}
		m.Prefix = line[i+1 : i+sp]
		m.Nick = nickOf(m.Prefix)
		i = skipSpaces(line, i+sp)
	}

	start := i
	for i < len(line) && line[i] != ' ' {
		i++
	}
	word := line[start:i]
	if !validCommand(word) {
		return errBadCommand
	}
	m.RawCommand = word
	m.Command = lookupCommand(word)

	i = skipSpaces(line, i)
	pstart, pend := i, i
	for i < len(line) {
		if line[i] == ':' {
			m.Trailing = line[i+1:]
			m.HasTrailing = true
			break
		}
		sp := bytes.IndexByte(line[i:], ' ')
		if sp < 0 {
			pend = len(line)
			break
		}
		pend = i + sp
		i = skipSpaces(line, pend)
	}
	if pend > pstart {
		m.Params = line[pstart:pend]
		m.Channel = channelOf(m.Params)
	}
	return nil
}

// validCommand reports whether w is a command word: letters only, or exactly
// three digits.
func validCommand(w []byte) bool {
	if len(w) == 0 {
		return false
	}
	if isDigit(w[0]) {
		return len(w) == 3 && isDigit(w[1]) && isDigit(w[2])
	}
	for _, b := range w {
		if !isLetter(b) {
			return false
		}
	}
	return true
}

// nickOf returns prefix up to its first '!' or '@', or all of it.
func nickOf(prefix []byte) []byte {
	for i, b := range prefix {
		if b == '!' || b == '@' {
			return prefix[:i]
		}
	}
	return prefix
}

// channelOf returns the first word of params that starts with '#', without
// the '#'.
func channelOf(params []byte) []byte {
	for len(params) > 0 {
		word := params
		rest := []byte(nil)
		if sp := bytes.IndexByte(params, ' '); sp >= 0 {
			word, rest = params[:sp], params[sp+1:]
		}
		if len(word) > 0 && word[0] == '#' {
			return word[1:]
		}
		params = rest
	}
	return nil
}

// Tag returns the raw (still escaped) value of the first tag named key.
// A key-only tag ("color" without '=') has an empty value and ok == true.
// It scans the tag section linearly; nothing is allocated.
func (m *Message) Tag(key string) (raw []byte, ok bool) {
	for tags := m.Tags; len(tags) > 0; {
		var k, v []byte
		k, v, tags = nextTag(tags)
		if string(k) == key {
			return v, true
		}
	}
	return nil, false
}

// nextTag cuts the first tag off tags, splitting it on its first '='. A tag
// without '=' has an empty, non-nil value. Finding the ';' first and the '='
// inside the tag keeps the key search off the loop's dependency chain.
func nextTag(tags []byte) (key, val, rest []byte) {
	tag := tags
	if e := indexSemi(tags); e >= 0 {
		tag, rest = tags[:e], tags[e+1:]
	}
	key, val = splitTag(tag)
	return key, val, rest
}

// NextLine returns the first non-empty line of a WebSocket frame and the rest
// of the frame. Lines end in "\r\n" (a bare "\n" is tolerated); the
// terminator is not part of line. line is nil when the frame holds no more
// lines. Typical use:
//
//	for line, rest := irc.NextLine(frame); line != nil; line, rest = irc.NextLine(rest) { ... }
func NextLine(frame []byte) (line, rest []byte) {
	for len(frame) > 0 {
		line, frame = frame, nil
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line, frame = line[:i], line[i+1:]
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) > 0 {
			return line, frame
		}
	}
	return nil, nil
}
