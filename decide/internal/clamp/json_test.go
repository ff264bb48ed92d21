package clamp

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/streamsafe-rl/streamsafe/shared/event"
)

func TestStream(t *testing.T) {
	c := newTestClamp(t)
	in := strings.Join([]string{
		`{"id":"m1","channel":"","requested":"TIMEOUT_600","score":0.5,"now_ms":1700000000000,"last_warn_ms":1699999000000}`,
		`{"id":"m2","channel":"nodel","requested":"TIMEOUT_600","score":0.5,"now_ms":1700000000000,"last_warn_ms":1699999000000}`,
		``,
		`{"id":"m3","requested":"TIMEOUT_600","score":0.5,"now_ms":1700000000000}`,
		`{"id":"m4","requested":"TIMEOUT_0","now_ms":1}`,
		`{"requested":"DELETE","moderator":true,"now_ms":1}`,
		`{"requested":"WARN","now_ms":1,"over_budget":true,"deterministic":"IGNORE"}`,
		`not json`,
		`{"requested":"BAN","now_ms":1}`,
		`{"requested":"WARN","now_ms":1,"typo":1}`,
		`{"now_ms":1}`,
		`{"requested":"TIMEOUT_300","raid_active":true,"vip":false,"sub_months":3,"first_msg":true,"last_action_ms":0,"score":0.99,"now_ms":5}`,
	}, "\n") // no trailing newline on the last line
	want := strings.Join([]string{
		`{"id":"m1","final":"TIMEOUT_600","final_index":4,"rules":[]}`,
		`{"id":"m2","final":"DELETE","final_index":2,"rules":["max_action"]}`,
		`{"id":"m3","final":"WARN","final_index":1,"rules":["escalation"]}`,
		`{"id":"m4","final":"IGNORE","final_index":0,"rules":["invalid"]}`,
		`{"final":"IGNORE","final_index":0,"rules":["trust_moderator"]}`,
		`{"final":"IGNORE","final_index":0,"rules":["latency_fallback"]}`,
		`{"line":8,"error":"invalid character 'o' in literal null (expecting 'u')"}`,
		`{"line":9,"error":"parse action kind \"BAN\": event: unknown action"}`,
		`{"line":10,"error":"json: unknown field \"typo\""}`,
		`{"line":11,"error":"missing \"requested\""}`,
		`{"final":"DELETE","final_index":2,"rules":["raid_cap","raid_first_msg"]}`,
	}, "\n") + "\n"
	var out strings.Builder
	err := Stream(c, strings.NewReader(in), &out)
	if got := out.String(); got != want {
		t.Errorf("Stream output:\n%s\nwant:\n%s", got, want)
	}
	if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "4 of 12 lines invalid, first at line 8") {
		t.Errorf("Stream() error = %v, want ErrBadInput naming 4 of 12 lines and line 8", err)
	}
	if err := Stream(c, strings.NewReader(`{"requested":"WARN","now_ms":1}`+"\n"), io.Discard); err != nil {
		t.Errorf("Stream(valid) = %v, want nil", err)
	}
}

// TestStream_Interactive checks that a result is written before the next
// input line arrives, so a co-process can use Stream line by line.
func TestStream_Interactive(t *testing.T) {
	c := newTestClamp(t)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- Stream(c, inR, outW); outW.Close() }()
	rd := bufio.NewReader(outR)
	for i, tt := range []struct{ line, want string }{
		{`{"requested":"WARN","vip":true,"now_ms":1}`, `{"final":"WARN","final_index":1,"rules":[]}`},
		{`{"requested":"TIMEOUT_60","broadcaster":true,"last_warn_ms":1,"now_ms":1}`, `{"final":"IGNORE","final_index":0,"rules":["trust_broadcaster"]}`},
	} {
		if _, err := io.WriteString(inW, tt.line+"\n"); err != nil {
			t.Fatalf("write line %d: %v", i, err)
		}
		got, err := rd.ReadString('\n')
		if err != nil || got != tt.want+"\n" {
			t.Fatalf("result %d = %q, %v, want %q", i, got, err, tt.want)
		}
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Errorf("Stream() = %v, want nil", err)
	}
}

func TestInputJSON_RoundTrip(t *testing.T) {
	ins := []Input{
		base(to(600)),
		{Requested: del, Deterministic: warn, HasDeterministic: true, Score: 0.25, Broadcaster: true, Moderator: true,
			VIP: true, SubMonths: 13, FirstMsg: true, LastWarnMs: 5, LastActionMs: 6, NowMs: 7, RaidActive: true, OverBudget: true},
		{Requested: to(-3)},
	}
	for _, in := range ins {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("Marshal(%+v): %v", in, err)
		}
		var got Input
		if err := json.Unmarshal(b, &got); err != nil || got != in {
			t.Errorf("Unmarshal(%s) = %+v, %v, want %+v", b, got, err, in)
		}
	}
	if _, err := json.Marshal(Input{Requested: event.Action{Kind: 9}}); err == nil {
		t.Error("Marshal(Input with kind 9) succeeded, want an error")
	}
	res := Result{Final: to(60), Rules: RuleSnap | RuleRaidCap}
	b, err := json.Marshal(res)
	if want := `{"final":"TIMEOUT_60","final_index":3,"rules":["raid_cap","snap"]}`; err != nil || string(b) != want {
		t.Errorf("Marshal(%+v) = %s, %v, want %s", res, b, err, want)
	}
	var got Result
	if err := json.Unmarshal(b, &got); err != nil || got != res {
		t.Errorf("Unmarshal(%s) = %+v, %v, want %+v", b, got, err, res)
	}
	if err := json.Unmarshal([]byte(`{"final":"IGNORE","rules":["nope"]}`), &got); !errors.Is(err, ErrUnknownRule) {
		t.Errorf("Unmarshal(unknown rule) error = %v, want ErrUnknownRule", err)
	}
}
