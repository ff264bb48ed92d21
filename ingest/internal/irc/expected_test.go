package irc

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"testing"
)

// expected is one row of testdata/real_lines_expected.jsonl.
type expected struct {
	LineNo       int     `json:"line_no"`
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

func loadExpected(t *testing.T) []expected {
	t.Helper()
	f, err := os.Open("testdata/real_lines_expected.jsonl")
	if err != nil {
		t.Fatalf("open expected: %v", err)
	}
	defer f.Close()
	var rows []expected
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e expected
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("decode expected row %d: %v", len(rows)+1, err)
		}
		rows = append(rows, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read expected: %v", err)
	}
	if len(rows) == 0 {
		t.Fatal("no expected rows")
	}
	return rows
}

// sp renders an optional JSON string like str renders a byte field.
func sp(s *string) string {
	if s == nil {
		return nilS
	}
	return *s
}

// ts renders a JSON number that ParseChat/ParseMod report as 0 when absent.
func ts(n *int64) int64 {
	if n == nil {
		return 0
	}
	return *n
}

// TestRealLinesExpected checks the typed layer (ParseChat, ParseMod) against
// every row of real_lines_expected.jsonl.
func TestRealLinesExpected(t *testing.T) {
	lines := realLines(t)
	for _, e := range loadExpected(t) {
		t.Run(fmt.Sprintf("line%d_%s", e.LineNo, e.Command), func(t *testing.T) {
			line := lines[e.LineNo-1]
			var m Message
			if err := Parse(line, 0, &m); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			equal(t, "RawCommand", string(m.RawCommand), e.Command)
			equal(t, "Channel", str(m.Channel), sp(e.Channel))
			trailing := nilS
			if m.HasTrailing {
				trailing = string(m.Trailing)
			}
			switch m.Command {
			case CmdPrivmsg:
				var c Chat
				if err := ParseChat(&m, &c); err != nil {
					t.Fatalf("ParseChat: %v", err)
				}
				equal(t, "login", str(c.Login), sp(e.Login))
				equal(t, "user_id", str(c.UserID), sp(e.UserID))
				equal(t, "room_id", str(c.RoomID), sp(e.RoomID))
				equal(t, "msg_id", str(c.MsgID), sp(e.MsgID))
				equal(t, "text", trailing, sp(e.Text))
				equal(t, "tmi_sent_ts", c.TmiSentTs, ts(e.TmiSentTs))
			case CmdClearChat, CmdClearMsg, CmdUserNotice:
				var d Mod
				if err := ParseMod(&m, &d); err != nil {
					t.Fatalf("ParseMod: %v", err)
				}
				login, text := d.Login, trailing
				if m.Command == CmdClearChat {
					login, text = d.TargetLogin, nilS // the trailing param is the target, not text
				}
				equal(t, "login", str(login), sp(e.Login))
				equal(t, "user_id", str(d.UserID), sp(e.UserID))
				equal(t, "room_id", str(d.RoomID), sp(e.RoomID))
				equal(t, "msg_id", str(d.MsgID), sp(e.MsgID))
				equal(t, "text", text, sp(e.Text))
				equal(t, "tmi_sent_ts", d.TmiSentTs, ts(e.TmiSentTs))
				equal(t, "has ban_duration", d.HasBanDuration, e.BanDuration != nil)
				equal(t, "ban_duration", d.BanDurationS, ts(e.BanDuration))
				equal(t, "target_user_id", str(d.TargetUserID), sp(e.TargetUserID))
				equal(t, "target_msg_id", str(d.TargetMsgID), sp(e.TargetMsgID))
			default:
				t.Fatalf("no typed check for command %v", m.Command)
			}
		})
	}
}
