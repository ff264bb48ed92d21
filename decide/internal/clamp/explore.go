package clamp

import (
	"fmt"
	"math/bits"

	"github.com/streamsafe-rl/streamsafe/shared/event"
)

// Explorer is epsilon-greedy exploration over the actions the clamp allows,
// with a stateless RNG keyed by a per-decision seed so that a replay draws
// the same numbers. The zero Explorer (and a nil *Explorer) never explores.
// The package documentation gives the maths and the exact RNG.
type Explorer struct {
	eps float64
}

// NewExplorer returns an Explorer with exploration probability epsilon in
// [0, 1].
func NewExplorer(epsilon float64) (*Explorer, error) {
	if !(epsilon >= 0 && epsilon <= 1) {
		return nil, fmt.Errorf("create explorer: epsilon %v not in [0, 1]", epsilon)
	}
	return &Explorer{eps: epsilon}, nil
}

// Epsilon returns the exploration probability.
func (e *Explorer) Epsilon() float64 {
	if e == nil {
		return 0
	}
	return e.eps
}

// Choice is the action actually executed and its behaviour probability.
type Choice struct {
	// Action is the executed action, one of event.DiscreteActions, and
	// Index its index there.
	Action event.Action
	Index  int
	// Prob is the behaviour probability of Action: Probs[Index].
	Prob float64
	// Probs is the behaviour distribution over event.DiscreteActions: zero
	// for every action the clamp does not allow; sums to 1.
	Probs [NumActions]float64
	// Explored reports whether Action differs from the greedy (clamped)
	// action because of exploration.
	Explored bool
	// Draw is the uniform number u in [0, 1) that decided exploration
	// (explored iff u < epsilon and there is a gentler allowed action).
	Draw float64
}

// Choose clamps in.Requested for channel (exactly as Apply does) and then
// explores: with probability epsilon it executes an action drawn uniformly
// from the allowed actions strictly gentler than the clamped one. It returns
// the clamp's Result (the greedy action and its rules) and the Choice. seed
// identifies the decision (see SeedFromID). It never allocates.
func (e *Explorer) Choose(c *Clamp, channel []byte, in *Input, seed uint64) (Result, Choice) {
	var res Result
	var allowed uint32 = 1 // IGNORE
	if in == nil {
		res = Result{Rules: RuleInvalid}
	} else {
		res, allowed = c.eval(c.lookup(channel), in)
	}
	g := discreteIndex(res.Final)
	ch := Choice{Action: res.Final, Index: g, Prob: 1}
	state := seed
	ch.Draw = float64(splitmix64(&state)>>11) * 0x1p-53

	cands := allowed & (1<<g - 1) // allowed and strictly gentler than greedy
	k := bits.OnesCount32(cands)
	eps := e.Epsilon()
	if eps == 0 || k == 0 {
		ch.Probs[g] = 1
		return res, ch
	}
	p := eps / float64(k)
	for m := cands; m != 0; m &= m - 1 {
		ch.Probs[bits.TrailingZeros32(m)] = p
	}
	ch.Probs[g] = 1 - eps
	ch.Prob = 1 - eps
	if ch.Draw < eps {
		j := uniformN(&state, uint64(k))
		m := cands
		for range j {
			m &= m - 1 // drop the j gentlest candidates
		}
		i := bits.TrailingZeros32(m)
		ch.Action, ch.Index, ch.Prob, ch.Explored = event.DiscreteActions[i], i, p, true
	}
	return res, ch
}

// discreteIndex returns the index of a discrete action (Apply's Final).
func discreteIndex(a event.Action) int {
	for i, d := range event.DiscreteActions {
		if d == a {
			return i
		}
	}
	return idxIgnore // unreachable: Final is always discrete
}

// SeedFromID returns the 64-bit FNV-1a hash of id (e.g. the message id), the
// documented way to key a decision's exploration draw.
func SeedFromID(id []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, b := range id {
		h ^= uint64(b)
		h *= 1099511628211
	}
	return h
}

// splitmix64 advances *s and returns the next SplitMix64 output.
func splitmix64(s *uint64) uint64 {
	*s += 0x9e3779b97f4a7c15
	z := *s
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// uniformN returns an exactly uniform integer in [0, n) for n > 0 using
// Lemire's multiply-and-reject method over the SplitMix64 stream.
func uniformN(s *uint64, n uint64) uint64 {
	hi, lo := bits.Mul64(splitmix64(s), n)
	if lo < n {
		t := -n % n
		for lo < t {
			hi, lo = bits.Mul64(splitmix64(s), n)
		}
	}
	return hi
}
