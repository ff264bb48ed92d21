package clamp

import (
	"testing"

	"github.com/streamsafe-rl/streamsafe/shared/event"
)

var benchCases = []struct {
	name    string
	channel string
	in      Input
}{
	{"pass", "", base(to(600))},
	{"escalation", "", func() Input { in := base(to(3600)); in.LastWarnMs = 0; return in }()},
	{"channel_override", "long", func() Input { in := base(to(1000)); in.VIP = true; return in }()},
	{"over_budget", "nodel", func() Input {
		in := base(to(600))
		in.OverBudget, in.HasDeterministic, in.Deterministic = true, true, to(300)
		return in
	}()},
}

func TestApply_NoAllocs(t *testing.T) {
	c := newTestClamp(t)
	e := &Explorer{eps: 0.5}
	dst := make([]event.Action, 0, NumActions)
	for _, bc := range benchCases {
		ch := []byte(bc.channel)
		in := bc.in
		if n := testing.AllocsPerRun(1000, func() { _ = c.Apply(ch, &in) }); n != 0 {
			t.Errorf("%s: Apply allocates %v times per call, want 0", bc.name, n)
		}
		if n := testing.AllocsPerRun(1000, func() { _ = c.Allowed(ch, &in, dst[:0]) }); n != 0 {
			t.Errorf("%s: Allowed allocates %v times per call, want 0", bc.name, n)
		}
		if n := testing.AllocsPerRun(1000, func() { _, _ = e.Choose(c, ch, &in, 42) }); n != 0 {
			t.Errorf("%s: Choose allocates %v times per call, want 0", bc.name, n)
		}
	}
}

func BenchmarkApply(b *testing.B) {
	c := newTestClamp(b)
	for _, bc := range benchCases {
		ch := []byte(bc.channel)
		in := bc.in
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = c.Apply(ch, &in)
			}
		})
	}
}

func BenchmarkChoose(b *testing.B) {
	c := newTestClamp(b)
	e := &Explorer{eps: 0.1}
	in := base(to(600))
	b.ReportAllocs()
	seed := uint64(0)
	for b.Loop() {
		seed++
		_, _ = e.Choose(c, nil, &in, seed)
	}
}

func BenchmarkAllowed(b *testing.B) {
	c := newTestClamp(b)
	in := base(to(600))
	dst := make([]event.Action, 0, NumActions)
	b.ReportAllocs()
	for b.Loop() {
		dst = c.Allowed(nil, &in, dst[:0])
	}
}
