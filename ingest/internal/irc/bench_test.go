package irc

import (
	"fmt"
	"testing"

	twitch "github.com/gempir/go-twitch-irc/v4"
)

// BenchmarkParsePrivmsg measures the ingest hot path on a typical ~450-byte
// PRIVMSG: Parse followed by ParseChat. Acceptance: <= 300 ns/op, 0 allocs/op.
func BenchmarkParsePrivmsg(b *testing.B) {
	var m Message
	var c Chat
	b.ReportAllocs()
	b.SetBytes(int64(len(typicalPrivmsg)))
	for b.Loop() {
		if err := Parse(typicalPrivmsg, 0, &m); err != nil {
			b.Fatal(err)
		}
		if err := ParseChat(&m, &c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseOnly is Parse alone on the typical PRIVMSG.
func BenchmarkParseOnly(b *testing.B) {
	var m Message
	b.ReportAllocs()
	b.SetBytes(int64(len(typicalPrivmsg)))
	for b.Loop() {
		if err := Parse(typicalPrivmsg, 0, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseCommandOf is the early filter on the typical PRIVMSG.
func BenchmarkParseCommandOf(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(typicalPrivmsg)))
	for b.Loop() {
		if CommandOf(typicalPrivmsg) != CmdPrivmsg {
			b.Fatal("not a PRIVMSG")
		}
	}
}

// BenchmarkParsePrivmsgLen runs Parse+ParseChat on the real lines of
// different sizes (line numbers from testdata/real_lines.txt).
func BenchmarkParsePrivmsgLen(b *testing.B) {
	for _, no := range []int{33, 46, 68, 70, 69} {
		line := realLine(b, no)
		b.Run(fmt.Sprintf("len=%d", len(line)), func(b *testing.B) {
			var m Message
			var c Chat
			b.ReportAllocs()
			b.SetBytes(int64(len(line)))
			for b.Loop() {
				if err := Parse(line, 0, &m); err != nil {
					b.Fatal(err)
				}
				if err := ParseChat(&m, &c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParseRealLines parses all 107 real lines per op, running
// ParseChat/ParseMod where they apply, the way the ingest loop would. The
// gempir sub-benchmark runs github.com/gempir/go-twitch-irc's ParseMessage
// over the same lines as a baseline.
func BenchmarkParseRealLines(b *testing.B) {
	lines := realLines(b)
	total := 0
	for _, l := range lines {
		total += len(l)
	}
	b.Run("irc", func(b *testing.B) {
		var m Message
		var c Chat
		var d Mod
		b.ReportAllocs()
		b.SetBytes(int64(total))
		for b.Loop() {
			for _, line := range lines {
				if err := Parse(line, 0, &m); err != nil {
					b.Fatal(err)
				}
				switch m.Command {
				case CmdPrivmsg:
					_ = ParseChat(&m, &c)
				case CmdClearChat, CmdClearMsg, CmdUserNotice, CmdRoomState:
					_ = ParseMod(&m, &d)
				}
			}
		}
	})
	b.Run("gempir", func(b *testing.B) {
		strs := make([]string, len(lines))
		for i, l := range lines {
			strs[i] = string(l)
		}
		b.ReportAllocs()
		b.SetBytes(int64(total))
		for b.Loop() {
			for _, s := range strs {
				_ = twitch.ParseMessage(s)
			}
		}
	})
}
