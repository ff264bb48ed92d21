package risk

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/streamsafe-rl/streamsafe/decide/internal/features"
	"github.com/streamsafe-rl/streamsafe/shared/event"
)

// ErrInvalidPolicy is wrapped by every ValidationError.
var ErrInvalidPolicy = errors.New("risk: invalid policy")

// ValidationError reports one invalid field of a policy file.
type ValidationError struct {
	Field  string // JSON path, e.g. "thresholds.delete" or `channels["xqcow"].weights["caps_ratio"]`
	Reason string
}

func (e *ValidationError) Error() string { return "invalid policy field " + e.Field + ": " + e.Reason }

// Unwrap returns ErrInvalidPolicy.
func (e *ValidationError) Unwrap() error { return ErrInvalidPolicy }

// Policy is a validated risk policy. It is read-only after Load and safe for
// concurrent use.
type Policy struct {
	version  string
	digest   string
	def      Params
	channels map[string]*Params
	terms    *features.BlockedTerms
	allow    *features.LinkAllowList
}

// Params are the complete scoring parameters of one channel: the policy's
// defaults with that channel's overrides applied.
type Params struct {
	weights  [features.N]float64 // in features.Names order
	bias     float64
	warn     float64        // score >= warn: WARN
	del      float64        // score >= del: DELETE
	timeout  float64        // score >= timeout: TIMEOUT, length by band
	bands    []float64      // lower score bound of each timeout band; bands[0] == timeout
	timeouts []event.Action // the TIMEOUT action of each band
}

// policyFile is the JSON form of a policy.
type policyFile struct {
	Version       string                 `json:"version"`
	Description   string                 `json:"description"`
	FeatureSet    string                 `json:"feature_set"`
	Bias          *float64               `json:"bias"`
	Weights       map[string]float64     `json:"weights"`
	Thresholds    *thresholdsFile        `json:"thresholds"`
	TimeoutsS     []int32                `json:"timeouts_s"`
	BlockedTerms  []string               `json:"blocked_terms"`
	LinkAllowList []string               `json:"link_allow_list"`
	Channels      map[string]channelFile `json:"channels"`
}

type thresholdsFile struct {
	Warn    *float64 `json:"warn"`
	Delete  *float64 `json:"delete"`
	Timeout *float64 `json:"timeout"`
}

// channelFile overrides parts of the defaults for one channel; anything absent
// is inherited.
type channelFile struct {
	Bias       *float64           `json:"bias"`
	Weights    map[string]float64 `json:"weights"`
	Thresholds *thresholdsFile    `json:"thresholds"`
	TimeoutsS  []int32            `json:"timeouts_s"`
}

// Load reads and validates the policy file at path.
func Load(path string) (*Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load risk policy: %w", err)
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("load risk policy %q: %w", path, err)
	}
	return p, nil
}

// Parse validates a policy from its JSON form. Unknown fields are errors, as
// are: a feature_set other than features.SetVersion; a missing or unknown
// weight; thresholds outside (0, 1) or not increasing (warn < delete <
// timeout); timeout lengths that are not increasing or not among
// event.DiscreteActions; blocked terms or allow-list entries that do not
// compile; and the same problems in any channel override. Validation errors
// are *ValidationError values (joined when there are several) naming the field.
func Parse(data []byte) (*Policy, error) {
	var f policyFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("decode risk policy: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("decode risk policy: data after the JSON object")
	}
	sum := sha256.Sum256(data)
	p := &Policy{version: f.Version, digest: hex.EncodeToString(sum[:]), channels: map[string]*Params{}}

	var errs []error
	fail := func(field, reason string, args ...any) {
		errs = append(errs, &ValidationError{Field: field, Reason: fmt.Sprintf(reason, args...)})
	}
	if f.Version == "" {
		fail("version", "missing")
	} else if strings.ContainsAny(f.Version, ", \t\r\n") {
		fail("version", "%q contains a comma or white space (the decision log writes it in a CSV)", f.Version)
	}
	if f.FeatureSet != features.SetVersion {
		fail("feature_set", "is %q, want %q (the feature set this build computes)", f.FeatureSet, features.SetVersion)
	}
	if f.Bias == nil {
		fail("bias", "missing")
	} else {
		p.def.bias = *f.Bias
	}
	if f.Weights == nil {
		fail("weights", "missing")
	} else {
		for i, name := range features.Names {
			w, ok := f.Weights[name]
			if !ok {
				fail(fmt.Sprintf("weights[%q]", name), "missing (every feature of %s needs a weight; use 0 to ignore one)", features.SetVersion)
			}
			p.def.weights[i] = w
		}
		errs = append(errs, unknownWeights("weights", f.Weights)...)
	}
	if len(f.TimeoutsS) == 0 {
		fail("timeouts_s", "missing (need at least one timeout length in seconds)")
	}
	if f.Thresholds == nil || f.Thresholds.Warn == nil || f.Thresholds.Delete == nil || f.Thresholds.Timeout == nil {
		fail("thresholds", "missing (need warn, delete and timeout)")
	} else {
		p.def.warn, p.def.del, p.def.timeout = *f.Thresholds.Warn, *f.Thresholds.Delete, *f.Thresholds.Timeout
		errs = append(errs, p.def.finish("", f.TimeoutsS)...)
	}

	var err error
	if p.terms, err = features.NewBlockedTerms(f.BlockedTerms); err != nil {
		fail("blocked_terms", "%v", err)
	}
	if p.allow, err = features.NewLinkAllowList(f.LinkAllowList); err != nil {
		fail("link_allow_list", "%v", err)
	}

	if len(errs) > 0 {
		return nil, errors.Join(errs...) // channels inherit the defaults: fix those first
	}
	for _, name := range slices.Sorted(maps.Keys(f.Channels)) { // sorted: deterministic error order
		errs = append(errs, p.addChannel(name, f.Channels[name], f.TimeoutsS)...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// addChannel resolves one channel's overrides into complete Params.
func (p *Policy) addChannel(name string, c channelFile, defTimeouts []int32) []error {
	field := "channels[" + strconv.Quote(name) + "]"
	var errs []error
	if !validChannel(name) {
		errs = append(errs, &ValidationError{Field: field,
			Reason: "key must be a channel login in lower case without '#' or a numeric room id"})
	}
	cp := p.def // arrays copy; bands and timeouts are rebuilt by finish
	if c.Bias != nil {
		cp.bias = *c.Bias
	}
	for i, name := range features.Names {
		if w, ok := c.Weights[name]; ok {
			cp.weights[i] = w
		}
	}
	errs = append(errs, unknownWeights(field+".weights", c.Weights)...)
	if t := c.Thresholds; t != nil {
		if t.Warn != nil {
			cp.warn = *t.Warn
		}
		if t.Delete != nil {
			cp.del = *t.Delete
		}
		if t.Timeout != nil {
			cp.timeout = *t.Timeout
		}
	}
	timeouts := defTimeouts
	if c.TimeoutsS != nil {
		timeouts = c.TimeoutsS
		if len(timeouts) == 0 {
			errs = append(errs, &ValidationError{Field: field + ".timeouts_s", Reason: "empty (omit it to inherit)"})
		}
	}
	errs = append(errs, cp.finish(field+".", timeouts)...)
	p.channels[name] = &cp
	return errs
}

// finish validates the thresholds and builds the timeout bands: the interval
// [timeout, 1] is cut into len(timeoutsS) bands of equal width, the k-th
// band mapping to a timeout of timeoutsS[k] seconds.
func (p *Params) finish(prefix string, timeoutsS []int32) []error {
	var errs []error
	fail := func(field, reason string, args ...any) {
		errs = append(errs, &ValidationError{Field: prefix + field, Reason: fmt.Sprintf(reason, args...)})
	}
	for _, t := range []struct {
		name string
		v    float64
	}{{"thresholds.warn", p.warn}, {"thresholds.delete", p.del}, {"thresholds.timeout", p.timeout}} {
		if !(t.v > 0 && t.v < 1) {
			fail(t.name, "is %v, want a score in (0, 1)", t.v)
		}
	}
	if !(p.warn < p.del) {
		fail("thresholds.delete", "is %v, want more than thresholds.warn (%v)", p.del, p.warn)
	}
	if !(p.del < p.timeout) {
		fail("thresholds.timeout", "is %v, want more than thresholds.delete (%v)", p.timeout, p.del)
	}
	for i, w := range p.weights {
		if math.IsNaN(w) || math.IsInf(w, 0) {
			fail(fmt.Sprintf("weights[%q]", features.Names[i]), "is not finite")
		}
	}
	p.bands, p.timeouts = make([]float64, len(timeoutsS)), make([]event.Action, len(timeoutsS))
	for k, s := range timeoutsS {
		a := event.Action{Kind: event.Timeout, DurationS: s}
		if event.ActionIndex(a) < 0 {
			fail(fmt.Sprintf("timeouts_s[%d]", k), "%d s is not one of the timeout lengths in event.DiscreteActions (%s)",
				s, discreteTimeouts())
		}
		if k > 0 && s <= timeoutsS[k-1] {
			fail(fmt.Sprintf("timeouts_s[%d]", k), "%d s, want longer than timeouts_s[%d] (%d s)", s, k-1, timeoutsS[k-1])
		}
		p.timeouts[k] = a
		p.bands[k] = p.timeout + (1-p.timeout)*float64(k)/float64(len(timeoutsS))
	}
	return errs
}

// unknownWeights reports weight names that are not features, in sorted order.
func unknownWeights(field string, weights map[string]float64) []error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(weights)) {
		if features.Index(name) < 0 {
			errs = append(errs, &ValidationError{Field: field + "[" + strconv.Quote(name) + "]",
				Reason: "unknown feature (not in " + features.SetVersion + ")"})
		}
	}
	return errs
}

// discreteTimeouts lists the timeout lengths of event.DiscreteActions.
func discreteTimeouts() string {
	var b []byte
	for _, a := range event.DiscreteActions {
		if a.Kind == event.Timeout {
			if len(b) > 0 {
				b = append(b, ", "...)
			}
			b = strconv.AppendInt(b, int64(a.DurationS), 10)
		}
	}
	return string(b)
}

// validChannel reports whether name is a plausible channel key: a Twitch login
// ([a-z0-9_], up to 25 characters) or a numeric room id.
func validChannel(name string) bool {
	if name == "" || len(name) > 25 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Version returns the policy's version string (e.g. "baseline-v1").
func (p *Policy) Version() string { return p.version }

// Digest returns the hex SHA-256 of the policy file, to log beside Version.
func (p *Policy) Digest() string { return p.digest }

// Terms returns the compiled blocked-term list, for features.ComputeMessage.
func (p *Policy) Terms() *features.BlockedTerms { return p.terms }

// AllowList returns the compiled link allow-list, for features.ComputeMessage.
func (p *Policy) AllowList() *features.LinkAllowList { return p.allow }

// For returns the parameters of channel (a login or room id, as keyed in the
// policy file), or the defaults. It does not allocate.
func (p *Policy) For(channel []byte) *Params {
	if len(p.channels) > 0 {
		if c, ok := p.channels[string(channel)]; ok {
			return c
		}
	}
	return &p.def
}

// Score returns the risk score of v in channel, in [0, 1].
func (p *Policy) Score(v *features.Vector, channel []byte) float64 { return p.For(channel).Score(v) }

// Decide maps a score to an action with channel's thresholds.
func (p *Policy) Decide(score float64, channel []byte) event.Action {
	return p.For(channel).Decide(score)
}

// Logit returns bias + Σ weight[i]·v[i]. The sum is taken in a fixed order
// (four interleaved partial sums, then added left to right) and every product
// is rounded on its own (the explicit conversion forbids fused multiply-add,
// which the compiler may otherwise use on some platforms), so the result is
// bit-for-bit reproducible.
func (p *Params) Logit(v *features.Vector) float64 {
	var s0, s1, s2, s3 float64
	for i := 0; i < len(v); i += 4 {
		s0 += float64(p.weights[i] * float64(v[i]))
		s1 += float64(p.weights[i+1] * float64(v[i+1]))
		s2 += float64(p.weights[i+2] * float64(v[i+2]))
		s3 += float64(p.weights[i+3] * float64(v[i+3]))
	}
	return p.bias + s0 + s1 + s2 + s3
}

// Logit steps through the vector four at a time.
var _ [-(features.N % 4)]struct{}

// Score returns the logistic of Logit(v), in [0, 1].
func (p *Params) Score(v *features.Vector) float64 {
	return 1 / (1 + math.Exp(-p.Logit(v)))
}

// Contributions writes weight[i]·v[i] for every feature into out, to explain a
// score (the logit is their sum plus the bias).
func (p *Params) Contributions(v *features.Vector, out *[features.N]float64) {
	for i, x := range v {
		out[i] = float64(p.weights[i] * float64(x))
	}
}

// Decide maps a score to an action: IGNORE below thresholds.warn, WARN from
// it, DELETE from thresholds.delete, and from thresholds.timeout a TIMEOUT
// whose length grows with the score band. The result is always one of
// event.DiscreteActions; a NaN score is IGNORE.
func (p *Params) Decide(score float64) event.Action {
	switch {
	case score >= p.timeout:
		k := len(p.bands) - 1
		for k > 0 && score < p.bands[k] {
			k--
		}
		return p.timeouts[k]
	case score >= p.del:
		return event.Action{Kind: event.Delete}
	case score >= p.warn:
		return event.Action{Kind: event.Warn}
	}
	return event.Action{Kind: event.Ignore}
}
