// Package replay recomputes logged decisions from their logged state and
// reports every difference: `decide replay`. A decision is reproducible when
// the message features, the feature-store snapshot, the trust flags, the
// decision time, the over-budget flag and the decision id (the exploration
// seed) it logged, run through the same risk policy version, clamp limits and
// epsilon, give the same state vector, score, requested and final action,
// clamp rules, path and probabilities, bit for bit.
package replay

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/decide/internal/clamp"
	"github.com/streamsafe-rl/streamsafe/decide/internal/decider"
	"github.com/streamsafe-rl/streamsafe/decide/internal/features"
	"github.com/streamsafe-rl/streamsafe/decide/internal/featurestore"
	"github.com/streamsafe-rl/streamsafe/shared/event"
)

// Mismatch is one difference between a logged and a replayed decision.
type Mismatch struct {
	SrcID      string
	DecisionID string
	Field      string // decision field name, e.g. "action_final"
	Logged     string
	Replayed   string
}

func (m Mismatch) String() string {
	return fmt.Sprintf("mismatch src_id=%s decision_id=%s field=%s logged=%q replayed=%q",
		m.SrcID, m.DecisionID, m.Field, m.Logged, m.Replayed)
}

// Summary counts a replay's results.
type Summary struct {
	Checked    int // decisions read
	Matched    int // reproduced exactly
	Mismatched int // with at least one Mismatch
	Undecoded  int // entries that are not decodable decisions (counted as mismatched)
}

// Replayer recomputes decisions with one policy and clamp configuration.
type Replayer struct {
	policy       decider.Policy
	clamp        *clamp.Clamp
	clampVersion string
	explorers    map[uint64]*clamp.Explorer // by math.Float64bits(epsilon)

	msg features.Message
	vec features.Vector
	got event.Decision
}

// New returns a Replayer for policy and the clamp limits cfg.
func New(policy decider.Policy, cfg clamp.Config) (*Replayer, error) {
	c, err := clamp.New(cfg.Global, cfg.Channels)
	if err != nil {
		return nil, fmt.Errorf("create replayer: %w", err)
	}
	v, err := decider.ClampVersion(cfg)
	if err != nil {
		return nil, fmt.Errorf("create replayer: %w", err)
	}
	return &Replayer{policy: policy, clamp: c, clampVersion: v, explorers: map[uint64]*clamp.Explorer{}}, nil
}

func (r *Replayer) explorer(eps float64) (*clamp.Explorer, error) {
	k := math.Float64bits(eps)
	if e, ok := r.explorers[k]; ok {
		return e, nil
	}
	e, err := clamp.NewExplorer(eps)
	if err != nil {
		return nil, err
	}
	r.explorers[k] = e
	return e, nil
}

// Check recomputes d and returns its mismatches (none when reproduced).
func (r *Replayer) Check(d *event.Decision) []Mismatch {
	var out []Mismatch
	diff := func(field, logged, replayed string) {
		if logged != replayed {
			out = append(out, Mismatch{SrcID: d.SrcID, DecisionID: d.DecisionID, Field: field, Logged: logged, Replayed: replayed})
		}
	}
	diff(event.FieldDecisionID, d.DecisionID, event.DecisionID(d.SrcID, d.MsgID))
	if d.FailureReason == event.FailureBadInput {
		// Nothing to recompute: an undecodable entry is always IGNORE.
		diff(event.FieldActionFinal, d.ActionFinal.String(), event.Action{}.String())
		diff(event.FieldDecisionPath, string(d.Path), string(event.PathFailOpen))
		diff(event.FieldProbs, floats64(d.Probs[:]), floats64(ignoreProbs[:]))
		diff(event.FieldBehaviourProb, f64(d.BehaviourProb), "1")
		return out
	}
	diff(event.FieldPolicyVersion, d.PolicyVersion, r.policy.Version())
	diff(event.FieldClampVersion, d.ClampVersion, r.clampVersion)
	diff(event.FieldFeatureSet, d.FeatureSet, features.SetVersion)
	diff(event.FieldActionSet, d.ActionSet, event.ActionSetVersion)
	if len(out) > 0 {
		return out // different versions: the comparison below would be meaningless
	}
	if err := decider.UnpackMessage(d.MsgFeatures, d.TextHash, &r.msg); err != nil {
		diff(event.FieldMsgFeatures, fmt.Sprintf("%d values", len(d.MsgFeatures)), err.Error())
		return out
	}
	ex, err := r.explorer(d.ExploreEps)
	if err != nil {
		diff(event.FieldExploreEps, f64(d.ExploreEps), err.Error())
		return out
	}
	core := decider.Core{Policy: r.policy, Clamp: r.clamp, Explorer: ex, ClampVersion: r.clampVersion}
	in := decider.Inputs{
		DecisionID: d.DecisionID, Channel: []byte(d.Channel), Msg: &r.msg, Trust: decider.TrustOfDecision(d),
		Snap: featurestore.Unpack(&d.Snapshot), NowMs: d.EventTimeMs, OverBudget: d.OverBudget, FailureReason: d.FailureReason,
	}
	g := &r.got
	*g = event.Decision{Features: g.Features[:0], ClampRules: g.ClampRules[:0]}
	core.Decide(&in, &r.vec, g)

	diff(event.FieldFeatures, floats32(d.Features), floats32(g.Features))
	diff(event.FieldRiskScore, f64(d.RiskScore), f64(g.RiskScore))
	diff(event.FieldActionDeterministic, d.ActionDeterministic.String(), g.ActionDeterministic.String())
	diff(event.FieldActionRequested, d.ActionRequested.String(), g.ActionRequested.String())
	diff(event.FieldActionFinal, d.ActionFinal.String(), g.ActionFinal.String())
	diff(event.FieldActionFinalIdx, strconv.Itoa(d.ActionFinalIdx), strconv.Itoa(g.ActionFinalIdx))
	diff(event.FieldClampRules, strings.Join(d.ClampRules, ","), strings.Join(g.ClampRules, ","))
	diff(event.FieldDecisionPath, string(d.Path), string(g.Path))
	diff(event.FieldExplored, strconv.FormatBool(d.Explored), strconv.FormatBool(g.Explored))
	diff(event.FieldExploreDraw, f64(d.ExploreDraw), f64(g.ExploreDraw))
	diff(event.FieldBehaviourProb, f64(d.BehaviourProb), f64(g.BehaviourProb))
	diff(event.FieldProbs, floats64(d.Probs[:]), floats64(g.Probs[:]))
	return out
}

// ignoreProbs is the distribution of a forced IGNORE.
var ignoreProbs = [event.NumDiscreteActions]float64{1}

func f64(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func floats64(v []float64) string {
	s := make([]string, len(v))
	for i, f := range v {
		s[i] = f64(f)
	}
	return strings.Join(s, ",")
}

func floats32(v []float32) string {
	s := make([]string, len(v))
	for i, f := range v {
		// Bits, not text: -0 and 0, or two NaNs, must not compare equal.
		s[i] = strconv.FormatUint(uint64(math.Float32bits(f)), 16)
	}
	return strings.Join(s, ",")
}

// Entry is one logged decision as read from its source: the stream entry
// ID (or line number) and its field/value pairs.
type Entry struct {
	ID     string
	Values map[string]any
}

// Source yields logged decisions; it returns io.EOF when done.
type Source interface {
	Next(ctx context.Context) (Entry, error)
}

// Run checks every decision src yields, writes each mismatch (and each
// undecodable entry) as a line to w, then a summary line, and returns the
// summary.
func Run(ctx context.Context, src Source, r *Replayer, w io.Writer) (Summary, error) {
	var s Summary
	for {
		e, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return s, err
		}
		s.Checked++
		d, err := event.DecodeDecision(e.Values)
		if err != nil {
			s.Undecoded++
			s.Mismatched++
			fmt.Fprintf(w, "undecodable entry=%s: %v\n", e.ID, err)
			continue
		}
		ms := r.Check(&d)
		if len(ms) == 0 {
			s.Matched++
			continue
		}
		s.Mismatched++
		for _, m := range ms {
			fmt.Fprintln(w, m)
		}
	}
	fmt.Fprintf(w, "checked %d matched %d mismatched %d\n", s.Checked, s.Matched, s.Mismatched)
	return s, nil
}

// StreamSource reads a decisions stream with XRANGE in pages.
type StreamSource struct {
	rdb    redis.Cmdable
	stream string
	next   string // next start ID ("(" prefix: exclusive)
	to     string
	left   int64 // entries still wanted; <0 = unlimited
	buf    []redis.XMessage
	done   bool
}

// NewStreamSource reads stream from ID from (inclusive; "-" = the start) to
// ID to (inclusive; "+" = the end), at most count entries (0 = all).
func NewStreamSource(rdb redis.Cmdable, stream, from, to string, count int64) *StreamSource {
	if from == "" {
		from = "-"
	}
	if to == "" {
		to = "+"
	}
	left := int64(-1)
	if count > 0 {
		left = count
	}
	return &StreamSource{rdb: rdb, stream: stream, next: from, to: to, left: left}
}

const pageSize = 1000

// Next implements Source.
func (s *StreamSource) Next(ctx context.Context) (Entry, error) {
	if s.left == 0 {
		return Entry{}, io.EOF
	}
	if len(s.buf) == 0 {
		if s.done {
			return Entry{}, io.EOF
		}
		n := int64(pageSize)
		if s.left > 0 {
			n = min(n, s.left)
		}
		xs, err := s.rdb.XRangeN(ctx, s.stream, s.next, s.to, n).Result()
		if err != nil {
			return Entry{}, fmt.Errorf("read decisions from %q: %w", s.stream, err)
		}
		if int64(len(xs)) < n {
			s.done = true
		}
		if len(xs) == 0 {
			return Entry{}, io.EOF
		}
		s.next = "(" + xs[len(xs)-1].ID
		s.buf = xs
	}
	x := s.buf[0]
	s.buf = s.buf[1:]
	if s.left > 0 {
		s.left--
	}
	return Entry{ID: x.ID, Values: x.Values}, nil
}

// FileSource reads JSON lines: one object per line mapping decision field
// names to their values (strings as on the stream; numbers and booleans are
// accepted and converted). Blank lines are skipped.
type FileSource struct {
	sc   *bufio.Scanner
	line int
}

// NewFileSource reads JSON lines from r.
func NewFileSource(r io.Reader) *FileSource {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	return &FileSource{sc: sc}
}

// Next implements Source.
func (f *FileSource) Next(context.Context) (Entry, error) {
	for f.sc.Scan() {
		f.line++
		b := strings.TrimSpace(f.sc.Text())
		if b == "" {
			continue
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal([]byte(b), &raw); err != nil {
			return Entry{}, fmt.Errorf("parse decision line %d: %w", f.line, err)
		}
		vals := make(map[string]any, len(raw))
		for k, v := range raw {
			var s string
			if err := json.Unmarshal(v, &s); err == nil {
				vals[k] = s
				continue
			}
			vals[k] = strings.Trim(string(v), `"`) // number, bool: its JSON text
			if string(v) == "true" {
				vals[k] = "1"
			} else if string(v) == "false" {
				vals[k] = "0"
			}
		}
		return Entry{ID: "line " + strconv.Itoa(f.line), Values: vals}, nil
	}
	if err := f.sc.Err(); err != nil {
		return Entry{}, fmt.Errorf("read decision lines: %w", err)
	}
	return Entry{}, io.EOF
}
