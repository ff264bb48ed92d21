package clamp

import (
	"math"
	"strconv"
	"testing"

	"github.com/streamsafe-rl/streamsafe/shared/event"
)

func TestNewExplorer(t *testing.T) {
	for _, eps := range []float64{-0.1, 1.0000001, math.NaN(), math.Inf(1)} {
		if e, err := NewExplorer(eps); err == nil {
			t.Errorf("NewExplorer(%v) = %+v, nil, want an error", eps, e)
		}
	}
	for _, eps := range []float64{0, 0.05, 1} {
		e, err := NewExplorer(eps)
		if err != nil || e.Epsilon() != eps {
			t.Errorf("NewExplorer(%v) = %v, %v, want epsilon %v", eps, e, err, eps)
		}
	}
}

func TestExplorer_Probs(t *testing.T) {
	c := newTestClamp(t)
	mod := func(req event.Action, f func(*Input)) Input { in := base(req); f(&in); return in }
	tests := []struct {
		name   string
		eps    float64
		in     Input
		greedy event.Action
		want   [NumActions]float64
	}{
		{"off", 0, base(to(600)), to(600), [NumActions]float64{0, 0, 0, 0, 1, 0}},
		{"greedy_ignore", 0.3, base(ignore), ignore, [NumActions]float64{1, 0, 0, 0, 0, 0}},
		{"all_gentler", 0.2, base(to(600)), to(600), [NumActions]float64{0.05, 0.05, 0.05, 0.05, 0.8, 0}},
		{"warn", 0.1, base(warn), warn, [NumActions]float64{0.1, 0.9, 0, 0, 0, 0}},
		{"cooldown_skips_warn", 0.2, mod(to(600), func(in *Input) { in.LastActionMs = nowMs }), del,
			[NumActions]float64{0.2, 0, 0.8, 0, 0, 0}},
		{"moderator", 0.5, mod(to(600), func(in *Input) { in.Moderator = true }), ignore, [NumActions]float64{1, 0, 0, 0, 0, 0}},
		{"always_explore", 1, base(del), del, [NumActions]float64{0.5, 0.5, 0, 0, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Explorer{eps: tt.eps}
			res, ch := e.Choose(c, nil, &tt.in, 12345)
			if res != c.Apply(nil, &tt.in) || res.Final != tt.greedy {
				t.Errorf("Choose result = %+v, want Apply's with final %v", res, tt.greedy)
			}
			sum := 0.0
			for i, p := range ch.Probs {
				sum += p
				if math.Abs(p-tt.want[i]) > 1e-12 {
					t.Errorf("Probs[%v] = %v, want %v", event.DiscreteActions[i], p, tt.want[i])
				}
			}
			if math.Abs(sum-1) > 1e-12 {
				t.Errorf("sum(Probs) = %v, want 1", sum)
			}
			if ch.Prob != ch.Probs[ch.Index] || event.DiscreteActions[ch.Index] != ch.Action || ch.Prob == 0 {
				t.Errorf("Choice = %+v: Prob must be Probs[Index] > 0 and Action DiscreteActions[Index]", ch)
			}
		})
	}
}

func TestExplorer_NilAndZero(t *testing.T) {
	c := newTestClamp(t)
	in := base(to(600))
	for _, e := range []*Explorer{nil, {}} {
		for seed := range uint64(1000) {
			_, ch := e.Choose(c, nil, &in, seed)
			if ch.Action != to(600) || ch.Prob != 1 || ch.Explored {
				t.Fatalf("%v.Choose(seed %d) = %+v, want the greedy action with probability 1", e, seed, ch)
			}
		}
	}
	_, ch := (&Explorer{eps: 0.5}).Choose(c, nil, nil, 1)
	if ch.Action != ignore || ch.Prob != 1 {
		t.Errorf("Choose(nil input) = %+v, want IGNORE with probability 1", ch)
	}
}

// TestExplorer_Empirical checks that the executed actions over many seeds
// follow Probs (within 5 standard errors), that the draws replay exactly and
// that every executed action passes the clamp unchanged.
func TestExplorer_Empirical(t *testing.T) {
	c := newTestClamp(t)
	const n = 200_000
	inputs := map[string]Input{
		"default":  base(to(600)),
		"cooldown": func() Input { in := base(to(600)); in.LastActionMs = nowMs; return in }(),
		"delete":   base(del),
	}
	for name, in := range inputs {
		for _, eps := range []float64{0.05, 0.3, 1} {
			t.Run(name+"/eps="+strconv.FormatFloat(eps, 'g', -1, 64), func(t *testing.T) {
				e, err := NewExplorer(eps)
				if err != nil {
					t.Fatal(err)
				}
				var counts [NumActions]int
				var probs [NumActions]float64
				explored := 0
				for i := range n {
					seed := uint64(i)
					if i%2 == 1 {
						seed = SeedFromID([]byte("msg-" + strconv.Itoa(i)))
					}
					res, ch := e.Choose(c, nil, &in, seed)
					if i == 0 {
						probs = ch.Probs
					} else if ch.Probs != probs {
						t.Fatalf("Probs changed with the seed: %v vs %v", ch.Probs, probs)
					}
					if _, again := e.Choose(c, nil, &in, seed); again != ch {
						t.Fatalf("Choose(seed %d) is not reproducible: %+v then %+v", seed, ch, again)
					}
					if ch.Explored != (ch.Action != res.Final) || ch.Explored != (ch.Draw < eps) {
						t.Fatalf("Choice %+v: Explored must mean Draw < eps and Action != greedy %v", ch, res.Final)
					}
					probe := in
					probe.Requested = ch.Action
					if got := c.Apply(nil, &probe); got.Final != ch.Action {
						t.Fatalf("executed %v does not pass the clamp: %+v", ch.Action, got)
					}
					counts[ch.Index]++
					if ch.Explored {
						explored++
					}
				}
				for i, p := range probs {
					got := float64(counts[i]) / n
					tol := 5 * math.Sqrt(p*(1-p)/n)
					if math.Abs(got-p) > tol || (p == 0 && counts[i] != 0) {
						t.Errorf("frequency of %v = %.5f, want %.5f ± %.5f", event.DiscreteActions[i], got, p, tol)
					}
				}
				t.Logf("counts %v for probs %v (%d explored)", counts, probs, explored)
			})
		}
	}
}

// TestRNG_Golden pins the documented hash and RNG so that the Python replay
// can be checked against the same numbers.
func TestRNG_Golden(t *testing.T) {
	fnv := []struct {
		id   string
		want uint64
	}{
		{"", 0xcbf29ce484222325},
		{"a", 0xaf63dc4c8601ec8c},
		{"foobar", 0x85944171f73967e8},
	}
	for _, tt := range fnv {
		if got := SeedFromID([]byte(tt.id)); got != tt.want {
			t.Errorf("SeedFromID(%q) = %#x, want %#x", tt.id, got, tt.want)
		}
	}
	// SplitMix64 reference outputs for seed 0 (Vigna's splitmix64.c).
	s := uint64(0)
	for i, want := range []uint64{0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, 0x06c45d188009454f} {
		if got := splitmix64(&s); got != want {
			t.Errorf("splitmix64 output %d = %#x, want %#x", i, got, want)
		}
	}
}

func TestUniformN(t *testing.T) {
	s := uint64(99)
	for range 1000 {
		if got := uniformN(&s, 1); got != 0 {
			t.Fatalf("uniformN(1) = %d, want 0", got)
		}
	}
	const n, draws = 5, 500_000
	var counts [n]int
	for range draws {
		counts[uniformN(&s, n)]++
	}
	for i, k := range counts {
		p := 1.0 / n
		if got := float64(k) / draws; math.Abs(got-p) > 5*math.Sqrt(p*(1-p)/draws) {
			t.Errorf("uniformN(%d) frequency of %d = %.5f, want %.5f", n, i, got, p)
		}
	}
}
