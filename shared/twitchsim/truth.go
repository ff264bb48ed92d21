package twitchsim

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"sync"
	"unicode/utf8"
)

// TruthRecord is one line of the ground-truth file (and the result of
// LookupMessage). Channel is the channel name without '#'.
type TruthRecord struct {
	MsgID       string `json:"msg_id"`
	Channel     string `json:"channel"`
	RoomID      string `json:"room_id"`
	UserID      string `json:"user_id"`
	Login       string `json:"login"`
	Persona     string `json:"persona"`
	Abusive     bool   `json:"abusive"`
	Category    string `json:"category"`
	Obfuscation string `json:"obfuscation"`
	FirstMsg    bool   `json:"first_msg"`
	Reply       bool   `json:"reply"`
	Action      bool   `json:"action"`
	Raid        bool   `json:"raid"`
	TmiSentTs   int64  `json:"tmi_sent_ts"`
	Text        string `json:"text"`
}

func (g *generator) record(m *msgMeta) TruthRecord {
	u := &g.pop.users[m.user]
	c := &g.channels[m.ch]
	return TruthRecord{
		MsgID: string(m.id[:]), Channel: c.name, RoomID: c.roomID, UserID: u.id, Login: u.login,
		Persona: m.persona.String(), Abusive: m.tmpl.abusive, Category: m.tmpl.cat.String(),
		Obfuscation: m.tmpl.obf.String(), FirstMsg: m.firstMsg, Reply: m.reply, Action: m.action,
		Raid: m.raid, TmiSentTs: m.ts, Text: g.text(m),
	}
}

// appendTruth appends m as a JSON line with the fields of TruthRecord,
// without allocating.
func (g *generator) appendTruth(dst []byte, m *msgMeta) []byte {
	u := &g.pop.users[m.user]
	c := &g.channels[m.ch]
	dst = append(dst, `{"msg_id":"`...)
	dst = append(dst, m.id[:]...)
	dst = append(dst, `","channel":"`...)
	dst = append(dst, c.name...)
	dst = append(dst, `","room_id":"`...)
	dst = append(dst, c.roomID...)
	dst = append(dst, `","user_id":"`...)
	dst = append(dst, u.id...)
	dst = append(dst, `","login":"`...)
	dst = append(dst, u.login...)
	dst = append(dst, `","persona":"`...)
	dst = append(dst, m.persona.String()...)
	dst = append(dst, `","abusive":`...)
	dst = strconv.AppendBool(dst, m.tmpl.abusive)
	dst = append(dst, `,"category":"`...)
	dst = append(dst, m.tmpl.cat.String()...)
	dst = append(dst, `","obfuscation":"`...)
	dst = append(dst, m.tmpl.obf.String()...)
	dst = append(dst, `","first_msg":`...)
	dst = strconv.AppendBool(dst, m.firstMsg)
	dst = append(dst, `,"reply":`...)
	dst = strconv.AppendBool(dst, m.reply)
	dst = append(dst, `,"action":`...)
	dst = strconv.AppendBool(dst, m.action)
	dst = append(dst, `,"raid":`...)
	dst = strconv.AppendBool(dst, m.raid)
	dst = append(dst, `,"tmi_sent_ts":`...)
	dst = strconv.AppendInt(dst, m.ts, 10)
	dst = append(dst, `,"text":"`...)
	if m.prefixUser >= 0 {
		dst = append(dst, '@')
		dst = appendJSONString(dst, g.pop.users[m.prefixUser].display)
		dst = append(dst, ' ')
	}
	dst = appendJSONString(dst, m.tmpl.text)
	return append(dst, "\"}\n"...)
}

// appendJSONString appends the inside of a JSON string literal.
func appendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		if c < utf8.RuneSelf {
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return dst
}

// truthWriter buffers truth lines; it is flushed on stop and close.
type truthWriter struct {
	path string
	// mu guards the file and buffer.
	mu     sync.Mutex
	f      *os.File
	w      *bufio.Writer
	err    error
	closed bool
}

func openTruth(path string) (*truthWriter, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create truth file %q: %w", path, err)
	}
	return &truthWriter{path: path, f: f, w: bufio.NewWriterSize(f, 256<<10)}, nil
}

func (t *truthWriter) write(line []byte) {
	t.mu.Lock()
	if !t.closed && t.err == nil {
		_, t.err = t.w.Write(line)
	}
	t.mu.Unlock()
}

func (t *truthWriter) flush() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return t.err
	}
	if err := t.w.Flush(); err != nil && t.err == nil {
		t.err = err
	}
	if t.err != nil {
		return fmt.Errorf("write truth file %q: %w", t.path, t.err)
	}
	return nil
}

func (t *truthWriter) close() error {
	err := t.flush()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return err
	}
	t.closed = true
	if cerr := t.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close truth file %q: %w", t.path, cerr)
	}
	return err
}
