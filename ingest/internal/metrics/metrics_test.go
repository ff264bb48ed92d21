package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/streamsafe-rl/streamsafe/ingest/internal/irc"
)

func TestNew_LintAndLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	m.Queue("lines", func() int { return 3 }, 64)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	// Allowed label values; anything else would be unbounded cardinality.
	allowed := map[string]map[string]bool{
		"kind":    {"chat": true, "mod": true, "control": true},
		"reason":  {},
		"command": {},
		"origin":  {"server": true, "client": true},
		"result":  {"ok": true, "error": true, "partial": true},
		"stage":   {"lines": true},
	}
	for r := DropReason(0); r < NumDropReasons; r++ {
		allowed["reason"][r.String()] = true
	}
	for b := BadInput(0); b < NumBadInputs; b++ {
		allowed["reason"][b.String()] = true
	}
	for r := Reconnect(0); r < NumReconnects; r++ {
		allowed["reason"][r.String()] = true
	}
	for _, c := range filteredCommands {
		allowed["command"][c.String()] = true
	}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), Namespace+"_") {
			t.Errorf("metric %s lacks the %s_ prefix", mf.GetName(), Namespace)
		}
		for _, s := range mf.GetMetric() {
			for _, lp := range s.GetLabel() {
				vals, ok := allowed[lp.GetName()]
				if !ok || !vals[lp.GetValue()] {
					t.Errorf("metric %s has label %s=%q outside the documented set", mf.GetName(), lp.GetName(), lp.GetValue())
				}
			}
		}
	}
	if got := Value(m.Filtered[Mod][irc.CmdUserNotice]); got != 0 {
		t.Errorf("pre-initialised counter = %v", got)
	}
}

func TestAccounts_Balance(t *testing.T) {
	m := New(prometheus.NewRegistry())
	m.Received[Chat].Add(10)
	m.Published[Chat].Add(4)
	m.RateLimited[Chat].Add(2)
	m.Duplicates[Chat].Add(1)
	m.Dropped[Chat][DropShutdown].Add(1)
	m.InFlight[Chat].Add(1)
	if got := m.Accounts(Chat).Balance(); got != 1 {
		t.Errorf("Balance() = %v, want 1 (one line unaccounted)", got)
	}
	m.Filter(Chat, irc.CmdPing) // not a filtered command for chat: counted as dropped
	if got := m.Accounts(Chat).Balance(); got != 0 {
		t.Errorf("Balance() = %v, want 0", got)
	}
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		c    irc.Command
		want Kind
	}{
		{irc.CmdPrivmsg, Chat}, {irc.CmdClearChat, Mod}, {irc.CmdClearMsg, Mod}, {irc.CmdUserNotice, Mod},
		{irc.CmdRoomState, Mod}, {irc.CmdPing, Control}, {irc.CmdNotice, Control}, {irc.CmdOther, Control},
	}
	for _, tt := range tests {
		if got := KindOf(tt.c); got != tt.want {
			t.Errorf("KindOf(%v) = %v, want %v", tt.c, got, tt.want)
		}
	}
}
