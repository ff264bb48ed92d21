package twitch

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/streamsafe-rl/streamsafe/ingest/internal/irc"
)

// readAll drains a tcpWire reading from in and describes each result.
func readAll(in string, maxLen int) []string {
	w := &tcpWire{lr: newLineReader(strings.NewReader(in), maxLen)}
	var out []string
	for range 100 {
		r, err := w.read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return append(out, "EOF")
			}
			return append(out, "err:"+err.Error())
		}
		switch r.status {
		case statusLine:
			out = append(out, "line:"+string(r.line))
		case statusOversize:
			out = append(out, "oversize:"+r.cmd.String())
		case statusTruncated:
			out = append(out, "truncated:"+string(r.line))
		default:
			out = append(out, fmt.Sprint("status:", r.status))
		}
	}
	return append(out, "too many reads")
}

func TestTCPWire_Read(t *testing.T) {
	const maxLen = 16
	long := "PRIVMSG #c :" + strings.Repeat("x", 100)
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"crlf_and_lf", "abc\r\ndef\n", "line:abc,line:def,EOF"},
		{"empty_lines_skipped", "\r\n\n\r\nabc\r\n", "line:abc,EOF"},
		{"exactly_max", "0123456789abcdef\r\n", "line:0123456789abcdef,EOF"},
		{"one_over_max", "0123456789abcdefg\r\nok\r\n", "oversize:OTHER,line:ok,EOF"},
		{"oversize_resyncs", long + "\r\nok\r\n", "oversize:PRIVMSG,line:ok,EOF"},
		{"oversize_at_eof", long, "oversize:PRIVMSG,EOF"},
		{"truncated_at_eof", "abc\r\nPING :tm", "line:abc,truncated:PING :tm,EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Join(readAll(tt.in, maxLen), ","); got != tt.want {
				t.Errorf("read(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

// The reader's buffer never grows past the line limit, however long the
// input line.
func TestLineReader_BoundedBuffer(t *testing.T) {
	lr := newLineReader(strings.NewReader(strings.Repeat("y", 1<<20)+"\nok\n"), irc.DefaultMaxLineBytes)
	r, err := lr.next()
	if err != nil || r.status != statusOversize {
		t.Fatalf("next() = %v, %v; want oversize", r.status, err)
	}
	if got, want := lr.br.Size(), irc.DefaultMaxLineBytes+2; got != want {
		t.Errorf("buffer size = %d, want %d", got, want)
	}
	if r, _ := lr.next(); string(r.line) != "ok" {
		t.Errorf("after the oversize line got %q, want ok", r.line)
	}
}

func TestHasLine(t *testing.T) {
	w := &tcpWire{lr: newLineReader(strings.NewReader("a\r\nPING :partial"), 64)}
	if _, err := w.read(); err != nil {
		t.Fatal(err)
	}
	if w.buffered() {
		t.Error("buffered() = true with only a partial line buffered; the batch would wait for the rest")
	}
}

func BenchmarkTCPWire_Read(b *testing.B) {
	line := fmt.Sprintf(privmsg, "11111111-2222-3333-4444-555555555555", "chan", strings.Repeat("word ", 20)) + "\r\n"
	input := strings.Repeat(line, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	r := strings.NewReader(input)
	w := &tcpWire{lr: newLineReader(r, irc.DefaultMaxLineBytes)}
	n := 0
	for b.Loop() {
		if n == 1024 {
			r.Reset(input)
			n = 0
		}
		if _, err := w.read(); err != nil {
			b.Fatal(err)
		}
		_ = w.buffered()
		n++
	}
}
