package risk

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/streamsafe-rl/streamsafe/decide/internal/features"
	"github.com/streamsafe-rl/streamsafe/shared/event"
)

const baselinePath = "../../policies/baseline-v1.json"

func loadBaseline(tb testing.TB) *Policy {
	tb.Helper()
	p, err := Load(baselinePath)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// TestBaseline checks the hand-tuned baseline against realistic messages:
// ordinary chat is ignored, abuse is deleted or timed out. Each logit must
// also stay clear of every decision boundary, so that the expectations do not
// hinge on rounding.
func TestBaseline(t *testing.T) {
	p := loadBaseline(t)
	if got := p.Version(); got != "baseline-v1" {
		t.Errorf("Version() = %q, want baseline-v1", got)
	}
	d := p.For(nil)
	var bounds []float64
	for _, s := range append([]float64{d.warn, d.del}, d.bands...) {
		bounds = append(bounds, math.Log(s/(1-s)))
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			v := sc.vector(p)
			score := p.Score(v, nil)
			got := p.Decide(score, nil)
			z := d.Logit(v)
			if got != sc.want {
				t.Errorf("Decide(Score(%q)) = %v (score %.3f, logit %.2f), want %v; %s", sc.text, got, score, z, sc.want, explain(d, v))
			}
			for _, b := range bounds {
				if math.Abs(z-b) < 0.1 {
					t.Errorf("logit %.3f of %q is within 0.1 of the decision boundary %.3f; %s", z, sc.text, b, explain(d, v))
				}
			}
		})
	}
}

// explain lists the largest contributions to a logit, for failure messages.
func explain(p *Params, v *features.Vector) string {
	var c [features.N]float64
	p.Contributions(v, &c)
	idx := make([]int, features.N)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return math.Abs(c[idx[a]]) > math.Abs(c[idx[b]]) })
	var b strings.Builder
	fmt.Fprintf(&b, "bias %.2f", p.bias)
	for _, i := range idx[:6] {
		fmt.Fprintf(&b, ", %s %+.2f", features.Names[i], c[i])
	}
	return b.String()
}

func TestParams_Contributions(t *testing.T) {
	p := loadBaseline(t)
	d := p.For(nil)
	for _, sc := range scenarios {
		v := sc.vector(p)
		var c [features.N]float64
		d.Contributions(v, &c)
		// The documented order: four interleaved partial sums, added left to right.
		var s [4]float64
		for i, x := range c {
			s[i%4] += x
		}
		if got, want := d.Logit(v), d.bias+s[0]+s[1]+s[2]+s[3]; got != want {
			t.Errorf("%s: Logit = %v, want %v from the Contributions in the documented order", sc.name, got, want)
		}
	}
}

// TestScore_Deterministic checks that the score is a pure function: the same
// vector scores the same bits, whichever channel map entry produced it.
func TestScore_Deterministic(t *testing.T) {
	p := loadBaseline(t)
	for _, sc := range scenarios {
		v1, v2 := sc.vector(p), sc.vector(p)
		if *v1 != *v2 {
			t.Fatalf("%s: vectors differ", sc.name)
		}
		s1, s2 := p.Score(v1, []byte("somechannel")), p.Score(v2, nil)
		if math.Float64bits(s1) != math.Float64bits(s2) {
			t.Errorf("%s: Score = %v then %v", sc.name, s1, s2)
		}
	}
}

func TestDecide(t *testing.T) {
	p := mustParse(t, policyJSON(nil))
	d := p.For(nil) // warn 0.6, delete 0.75, timeout 0.9, timeouts 60/600/3600
	tests := []struct {
		score float64
		want  event.Action
	}{
		{0, ignore}, {0.59999, ignore}, {math.NaN(), ignore}, {-1, ignore},
		{0.6, warn}, {0.7, warn},
		{0.75, del}, {0.89999, del},
		{0.9, to60}, {0.93, to60},
		{0.9 + 0.1/3 + 1e-9, to600}, {0.96, to600},
		{0.9 + 0.2/3 + 1e-9, to3600}, {0.999, to3600}, {1, to3600}, {2, to3600},
	}
	for _, tt := range tests {
		if got := d.Decide(tt.score); got != tt.want {
			t.Errorf("Decide(%v) = %v, want %v", tt.score, got, tt.want)
		}
	}
}

// TestDecide_DiscreteAndMonotone sweeps the score for every channel of a
// policy with overrides: every action must be one of event.DiscreteActions,
// and a higher score never gives a gentler action.
func TestDecide_DiscreteAndMonotone(t *testing.T) {
	p := mustParse(t, policyJSON(map[string]string{
		"channels": `{"calm": {"thresholds": {"warn": 0.8, "delete": 0.9, "timeout": 0.97}, "timeouts_s": [60]},
		              "strict": {"thresholds": {"timeout": 0.8}, "timeouts_s": [600, 3600]}}`,
	}))
	for _, ch := range []string{"", "calm", "strict", "unknown"} {
		prev := ignore
		for i := 0; i <= 10000; i++ {
			score := float64(i) / 10000
			got := p.Decide(score, []byte(ch))
			if event.ActionIndex(got) < 0 {
				t.Fatalf("channel %q: Decide(%v) = %v, not in event.DiscreteActions", ch, score, got)
			}
			if prev.Harsher(got) {
				t.Fatalf("channel %q: Decide(%v) = %v is gentler than %v at a lower score", ch, score, got, prev)
			}
			prev = got
		}
	}
}

func TestPolicy_ChannelOverrides(t *testing.T) {
	p := mustParse(t, policyJSON(map[string]string{
		"channels": `{"xqcow": {"bias": 1, "weights": {"caps_ratio": 3}, "thresholds": {"warn": 0.7}, "timeouts_s": [600]},
		              "71092938": {"thresholds": {"delete": 0.8}}}`,
	}))
	def, xqc, room := p.For(nil), p.For([]byte("xqcow")), p.For([]byte("71092938"))
	if p.For([]byte("other")) != def {
		t.Error("For(unknown channel) is not the defaults")
	}
	caps := features.Index("caps_ratio")
	tests := []struct {
		name      string
		got, want any
	}{
		{"xqcow bias", xqc.bias, 1.0},
		{"xqcow caps weight", xqc.weights[caps], 3.0},
		{"xqcow other weight inherited", xqc.weights[0], def.weights[0]},
		{"xqcow warn", xqc.warn, 0.7},
		{"xqcow delete inherited", xqc.del, def.del},
		{"xqcow timeout band", xqc.Decide(0.95), to600},
		{"room delete", room.del, 0.8},
		{"room bias inherited", room.bias, def.bias},
		{"default caps weight", def.weights[caps], 0.5},
		{"default at 0.77", p.Decide(0.77, nil), del},
		{"room at 0.77", p.Decide(0.77, []byte("71092938")), warn},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestParse_Errors(t *testing.T) {
	allWeights := policyJSON(nil)
	tests := []struct {
		name   string
		doc    string
		fields []string // ValidationError fields expected, in order
		substr string   // or, for decode errors, a substring of the error
	}{
		{name: "unknown_top_level_field", doc: strings.Replace(allWeights, `"bias"`, `"bais": 1, "bias"`, 1), substr: `unknown field "bais"`},
		{name: "not_json", doc: "{", substr: "decode risk policy"},
		{name: "trailing_data", doc: allWeights + "{}", substr: "data after the JSON object"},
		{name: "missing_version", doc: policyJSON(map[string]string{"version": `""`}), fields: []string{"version"}},
		{name: "comma_in_version", doc: policyJSON(map[string]string{"version": `"v1,2"`}), fields: []string{"version"}},
		{name: "wrong_feature_set", doc: policyJSON(map[string]string{"feature_set": `"fs-0"`}), fields: []string{"feature_set"}},
		{name: "missing_bias", doc: strings.Replace(allWeights, `"bias": -1.5,`, "", 1), fields: []string{"bias"}},
		{name: "missing_weight", doc: strings.Replace(allWeights, `"caps_ratio": 0.5,`, "", 1), fields: []string{`weights["caps_ratio"]`}},
		{name: "unknown_weight", doc: strings.Replace(allWeights, `"caps_ratio": 0.5,`, `"caps_ratio": 0.5, "capz": 1, "abc": 2,`, 1),
			fields: []string{`weights["abc"]`, `weights["capz"]`}},
		{name: "thresholds_missing", doc: policyJSON(map[string]string{"thresholds": `{"warn": 0.5}`}), fields: []string{"thresholds"}},
		{name: "thresholds_not_increasing", doc: policyJSON(map[string]string{"thresholds": `{"warn": 0.8, "delete": 0.7, "timeout": 0.9}`}),
			fields: []string{"thresholds.delete"}},
		{name: "threshold_out_of_range", doc: policyJSON(map[string]string{"thresholds": `{"warn": 0.5, "delete": 0.7, "timeout": 1}`}),
			fields: []string{"thresholds.timeout"}},
		{name: "timeout_not_discrete", doc: policyJSON(map[string]string{"timeouts_s": `[60, 300]`}), fields: []string{"timeouts_s[1]"}},
		{name: "timeouts_not_increasing", doc: policyJSON(map[string]string{"timeouts_s": `[600, 60]`}), fields: []string{"timeouts_s[1]"}},
		{name: "timeouts_missing", doc: policyJSON(map[string]string{"timeouts_s": `[]`}), fields: []string{"timeouts_s"}},
		{name: "bad_blocked_term", doc: policyJSON(map[string]string{"blocked_terms": `["idiot", "!!"]`}), fields: []string{"blocked_terms"}},
		{name: "bad_allow_list", doc: policyJSON(map[string]string{"link_allow_list": `["https://youtube.com"]`}), fields: []string{"link_allow_list"}},
		{name: "channel_key", doc: policyJSON(map[string]string{"channels": `{"#XQC": {}}`}), fields: []string{`channels["#XQC"]`}},
		{name: "channel_unknown_weight", doc: policyJSON(map[string]string{"channels": `{"a": {"weights": {"nope": 1}}}`}),
			fields: []string{`channels["a"].weights["nope"]`}},
		{name: "channel_thresholds", doc: policyJSON(map[string]string{"channels": `{"b": {"thresholds": {"delete": 0.95}}, "a": {"timeouts_s": [7]}}`}),
			fields: []string{`channels["a"].timeouts_s[0]`, `channels["b"].thresholds.timeout`}},
		{name: "channel_empty_timeouts", doc: policyJSON(map[string]string{"channels": `{"a": {"timeouts_s": []}}`}),
			fields: []string{`channels["a"].timeouts_s`}},
		{name: "channel_unknown_field", doc: policyJSON(map[string]string{"channels": `{"a": {"treshold": 1}}`}), substr: `unknown field "treshold"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.doc))
			if err == nil {
				t.Fatalf("Parse = %v, nil; want an error", p)
			}
			if tt.substr != "" {
				if !strings.Contains(err.Error(), tt.substr) {
					t.Errorf("Parse error = %v, want one containing %q", err, tt.substr)
				}
				return
			}
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Errorf("Parse error %v does not wrap ErrInvalidPolicy", err)
			}
			if got := validationFields(err); !slices.Equal(got, tt.fields) {
				t.Errorf("Parse error fields = %q, want %q (error: %v)", got, tt.fields, err)
			}
		})
	}
}

// validationFields lists the fields of the ValidationErrors joined in err.
func validationFields(err error) []string {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	var fields []string
	for _, e := range errs {
		var ve *ValidationError
		if errors.As(e, &ve) {
			fields = append(fields, ve.Field)
		}
	}
	return fields
}

func TestLoad(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "missing.json"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load(missing) error = %v, want os.ErrNotExist", err)
	}
	path := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(path, []byte(policyJSON(map[string]string{"feature_set": `"fs-0"`})), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), path) || !errors.Is(err, ErrInvalidPolicy) {
		t.Errorf("Load(bad) error = %v, want one naming %s and wrapping ErrInvalidPolicy", err, path)
	}
	a, b := loadBaseline(t), loadBaseline(t)
	if len(a.Digest()) != 64 || a.Digest() != b.Digest() {
		t.Errorf("Digest() = %q, %q; want the same 64 hex digits", a.Digest(), b.Digest())
	}
	if a.Terms().Len() == 0 {
		t.Error("baseline has no blocked terms")
	}
}

// policyJSON returns a valid policy document (every weight 0 except
// caps_ratio 0.5; warn 0.6, delete 0.75, timeout 0.9; timeouts 60/600/3600)
// with the given top-level fields replaced by raw JSON.
func policyJSON(set map[string]string) string {
	fields := map[string]string{
		"version":         `"test-v1"`,
		"feature_set":     `"` + features.SetVersion + `"`,
		"thresholds":      `{"warn": 0.6, "delete": 0.75, "timeout": 0.9}`,
		"timeouts_s":      `[60, 600, 3600]`,
		"blocked_terms":   `["idiot"]`,
		"link_allow_list": `["clips.twitch.tv"]`,
		"channels":        `{}`,
	}
	for k, v := range set {
		fields[k] = v
	}
	var b strings.Builder
	b.WriteString("{\n  \"bias\": -1.5,\n  \"weights\": {")
	for i, n := range features.Names {
		w := "0"
		if n == "caps_ratio" {
			w = "0.5"
		}
		sep := ","
		if i == len(features.Names)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "\"%s\": %s%s ", n, w, sep)
	}
	b.WriteString("}")
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		fmt.Fprintf(&b, ",\n  %q: %s", k, fields[k])
	}
	b.WriteString("\n}")
	return b.String()
}

func mustParse(t *testing.T, doc string) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPolicy_Concurrent scores from several goroutines at once with one shared
// Policy (run with -race); every goroutine must see the sequential results.
func TestPolicy_Concurrent(t *testing.T) {
	p := loadBaseline(t)
	want := make([]event.Action, len(scenarios))
	for i, sc := range scenarios {
		want[i] = p.Decide(p.Score(sc.vector(p), nil), nil)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4*len(scenarios))
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, sc := range scenarios {
				if got := p.Decide(p.Score(sc.vector(p), []byte("somechannel")), []byte("somechannel")); got != want[i] {
					errs <- fmt.Sprintf("%s: %v, want %v", sc.name, got, want[i])
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
