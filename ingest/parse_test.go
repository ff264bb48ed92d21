package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const testdata = "internal/irc/testdata/"

// decodeLines decodes one JSON object per output line into generic maps.
func decodeLines(t *testing.T, out []byte) []map[string]any {
	t.Helper()
	var rows []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var row map[string]any
		if err := json.Unmarshal(sc.Bytes(), &row); err != nil {
			t.Fatalf("output line %d is not JSON: %v\n%s", len(rows)+1, err, sc.Bytes())
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("scan output: %v", err)
	}
	return rows
}

var outputKeys = []string{"command", "channel", "login", "user_id", "room_id", "msg_id", "text", "tmi_sent_ts", "ban_duration", "target_user_id", "target_msg_id"}

// TestRunParse_realLines runs the command over all of real_lines.txt and
// compares every field with real_lines_expected.jsonl where a row exists.
func TestRunParse_realLines(t *testing.T) {
	var out bytes.Buffer
	if err := runParse([]string{testdata + "real_lines.txt"}, strings.NewReader(""), &out); err != nil {
		t.Fatalf("runParse: %v", err)
	}
	got := decodeLines(t, out.Bytes())
	if len(got) != 107 {
		t.Fatalf("runParse printed %d objects, want 107 (one per line)", len(got))
	}
	for i, row := range got {
		if _, bad := row["error"]; bad {
			t.Errorf("line %d: unexpected error %v", i+1, row["error"])
			continue
		}
		if len(row) != len(outputKeys) {
			t.Errorf("line %d: %d keys, want exactly %v", i+1, len(row), outputKeys)
		}
		for _, k := range outputKeys {
			if _, ok := row[k]; !ok {
				t.Errorf("line %d: key %q missing", i+1, k)
			}
		}
	}

	data, err := os.ReadFile(testdata + "real_lines_expected.jsonl")
	if err != nil {
		t.Fatalf("read expected: %v", err)
	}
	want := decodeLines(t, data)
	if len(want) == 0 {
		t.Fatal("no expected rows")
	}
	for _, w := range want {
		no := int(w["line_no"].(float64))
		delete(w, "line_no")
		g := got[no-1]
		for _, k := range outputKeys {
			if !reflect.DeepEqual(g[k], w[k]) {
				t.Errorf("line %d %v: %s = %#v, want %#v", no, w["command"], k, g[k], w[k])
			}
		}
	}

	// Spot checks on lines the expected file does not cover.
	spot := []struct {
		line int
		key  string
		want any
	}{
		{2, "command", "001"},
		{16, "channel", "pajlada"}, // NAMES: channel is not the first param
		{12, "channel", nil},       // NOTICE *
		{28, "text", "tmi.twitch.tv"},
		{31, "text", nil},
		{9, "user_id", "40286300"},
		{107, "command", "WHISPER"},
	}
	for _, s := range spot {
		if g := got[s.line-1][s.key]; !reflect.DeepEqual(g, s.want) {
			t.Errorf("line %d: %s = %#v, want %#v", s.line, s.key, g, s.want)
		}
	}
}

func TestRunParse_stdinAndErrors(t *testing.T) {
	longLine := "@k=" + strings.Repeat("v", 9000) + " :a PRIVMSG #c :x"
	hugeLine := "PING :" + strings.Repeat("x", readBufferBytes+10)
	input := strings.Join([]string{
		`@display-name=Riot\sGames;user-id=1 :riotgames!riotgames@riotgames.tmi.twitch.tv PRIVMSG #riotgames :hi there`,
		"",
		"@a=b",
		longLine,
		"PRIVMSG",
		hugeLine,
		":tmi.twitch.tv CLEARCHAT #c\r",
		"\xff\xfe garbage",
		"PING :tmi.twitch.tv", // last line without a newline
	}, "\n")
	var out bytes.Buffer
	if err := runParse(nil, strings.NewReader(input), &out); err != nil {
		t.Fatalf("runParse: %v", err)
	}
	got := decodeLines(t, out.Bytes())
	wantErrs := []string{"", "line 3: irc: malformed line", "line 4: irc: line too long", "line 5: irc: malformed line", "line 6: irc: line too long", "", "line 8: irc: malformed line", ""}
	if len(got) != len(wantErrs) {
		t.Fatalf("runParse printed %d objects, want %d:\n%s", len(got), len(wantErrs), out.String())
	}
	for i, want := range wantErrs {
		e, isErr := got[i]["error"].(string)
		if want == "" {
			if isErr {
				t.Errorf("object %d: unexpected error %q", i+1, e)
			}
			continue
		}
		if !isErr || !strings.Contains(e, want) {
			t.Errorf("object %d: error = %q, want it to contain %q", i+1, e, want)
		}
	}
	equalAny(t, "user_id", got[0]["user_id"], "1")
	equalAny(t, "login", got[0]["login"], "riotgames")
	equalAny(t, "text", got[0]["text"], "hi there")
	equalAny(t, "clearchat command", got[5]["command"], "CLEARCHAT")
	equalAny(t, "clearchat login", got[5]["login"], nil)
	equalAny(t, "clearchat channel", got[5]["channel"], "c")
	equalAny(t, "ping text", got[7]["text"], "tmi.twitch.tv")

	// A larger -max-line-bytes accepts the long line.
	out.Reset()
	if err := runParse([]string{"-max-line-bytes", "16384"}, strings.NewReader(longLine+"\n"), &out); err != nil {
		t.Fatalf("runParse: %v", err)
	}
	if got := decodeLines(t, out.Bytes()); len(got) != 1 || got[0]["error"] != nil {
		t.Errorf("with -max-line-bytes 16384: %s", out.String())
	}
}

func TestRunParse_usageErrors(t *testing.T) {
	tests := [][]string{
		{filepath.Join(t.TempDir(), "missing.txt")},
		{"a", "b"},
		{"-max-line-bytes", "0"},
		{"-nope"},
	}
	for _, args := range tests {
		if err := runParse(args, strings.NewReader(""), &bytes.Buffer{}); err == nil {
			t.Errorf("runParse(%q) = nil, want an error", args)
		}
	}
}

func equalAny(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}
