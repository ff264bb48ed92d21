package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/streamsafe-rl/streamsafe/ingest/internal/irc"
)

// parsedLine is the JSON object `ingest parse` prints for one raw IRC line.
// Pointer fields print as null when the line does not carry the value.
type parsedLine struct {
	Command      string  `json:"command"`
	Channel      *string `json:"channel"`
	Login        *string `json:"login"`
	UserID       *string `json:"user_id"`
	RoomID       *string `json:"room_id"`
	MsgID        *string `json:"msg_id"`
	Text         *string `json:"text"`
	TmiSentTs    *int64  `json:"tmi_sent_ts"`
	BanDuration  *int64  `json:"ban_duration"`
	TargetUserID *string `json:"target_user_id"`
	TargetMsgID  *string `json:"target_msg_id"`
}

// lineError is what `ingest parse` prints for a line it cannot parse.
type lineError struct {
	Error string `json:"error"`
}

// readBufferBytes bounds how much of one line `ingest parse` holds in memory;
// longer lines are skipped up to their newline and reported as too long.
const readBufferBytes = 1 << 20

// runParse implements `ingest parse [-max-line-bytes N] [FILE]`: it reads raw
// IRC lines from FILE (stdin without FILE) and writes one JSON object per
// line to stdout. Malformed or over-long lines produce {"error": "..."} and
// parsing goes on; blank lines are skipped. The returned error is for I/O
// and usage problems only.
func runParse(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("parse", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	maxLen := fs.Int("max-line-bytes", irc.DefaultMaxLineBytes, "longest accepted IRC line in bytes")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("parse arguments: %w", err)
	}
	if fs.NArg() > 1 {
		return fmt.Errorf("parse arguments: want at most one FILE, got %d", fs.NArg())
	}
	if *maxLen <= 0 || *maxLen > readBufferBytes {
		return fmt.Errorf("parse arguments: -max-line-bytes %d not in 1..%d", *maxLen, readBufferBytes)
	}
	in := stdin
	if fs.NArg() == 1 {
		f, err := os.Open(fs.Arg(0))
		if err != nil {
			return fmt.Errorf("open input: %w", err)
		}
		defer f.Close()
		in = f
	}

	r := bufio.NewReaderSize(in, readBufferBytes)
	w := bufio.NewWriter(stdout)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	var m irc.Message
	for lineNo := 1; ; lineNo++ {
		line, err := r.ReadSlice('\n')
		tooLong := errors.Is(err, bufio.ErrBufferFull)
		for errors.Is(err, bufio.ErrBufferFull) { // drop the rest of an over-long line
			_, err = r.ReadSlice('\n')
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read line %d: %w", lineNo, err)
		}
		eof := err != nil
		line = trimEOL(line)
		var out any
		switch {
		case tooLong:
			out = lineError{fmt.Sprintf("parse line %d: %v", lineNo, irc.ErrTooLong)}
		case len(line) == 0:
			out = nil
		default:
			if p, perr := parseLine(line, *maxLen, &m); perr != nil {
				out = lineError{fmt.Sprintf("parse line %d: %v", lineNo, perr)}
			} else {
				out = p
			}
		}
		if out != nil {
			if err := enc.Encode(out); err != nil {
				return fmt.Errorf("write line %d: %w", lineNo, err)
			}
		}
		if eof {
			break
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// trimEOL removes a trailing "\n" or "\r\n".
func trimEOL(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line
}

// parseLine maps one raw line to its JSON fields. PRIVMSG lines must also
// pass irc.ParseChat and moderation lines irc.ParseMod, so the command
// reports the same lines as malformed as the ingest service would drop.
func parseLine(line []byte, maxLen int, m *irc.Message) (*parsedLine, error) {
	if err := irc.Parse(line, maxLen, m); err != nil {
		return nil, err
	}
	switch m.Command {
	case irc.CmdPrivmsg:
		var c irc.Chat
		if err := irc.ParseChat(m, &c); err != nil {
			return nil, err
		}
	case irc.CmdClearChat, irc.CmdClearMsg, irc.CmdUserNotice, irc.CmdRoomState:
		var d irc.Mod
		if err := irc.ParseMod(m, &d); err != nil {
			return nil, err
		}
	}

	p := &parsedLine{
		Command:      string(m.RawCommand),
		Channel:      optString(m.Channel),
		UserID:       tagString(m, "user-id"),
		RoomID:       tagString(m, "room-id"),
		MsgID:        tagString(m, "id"),
		TmiSentTs:    tagInt(m, "tmi-sent-ts"),
		BanDuration:  tagInt(m, "ban-duration"),
		TargetUserID: tagString(m, "target-user-id"),
		TargetMsgID:  tagString(m, "target-msg-id"),
	}
	if m.HasTrailing {
		p.Text = optString(m.Trailing)
	}
	switch m.Command {
	case irc.CmdPrivmsg:
		p.Login = optString(m.Nick)
	case irc.CmdUserNotice, irc.CmdClearMsg:
		p.Login = tagString(m, "login")
	case irc.CmdClearChat:
		// The trailing param of CLEARCHAT is the target login, not text.
		p.Text = nil
		if len(m.Trailing) > 0 {
			p.Login = optString(m.Trailing)
		}
	}
	return p, nil
}

// optString returns nil for a nil slice, else the bytes as a string.
func optString(b []byte) *string {
	if b == nil {
		return nil
	}
	s := string(b)
	return &s
}

// tagString returns the unescaped value of tag key, or nil if absent.
func tagString(m *irc.Message, key string) *string {
	v, ok := m.Tag(key)
	if !ok {
		return nil
	}
	s := string(irc.Unescape(nil, v))
	return &s
}

// tagInt returns tag key as a signed decimal number, or nil if it is absent
// or not a number.
func tagInt(m *irc.Message, key string) *int64 {
	v, ok := m.Tag(key)
	if !ok {
		return nil
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return nil
	}
	return &n
}
