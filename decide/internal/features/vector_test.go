package features

import (
	"bytes"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

var update = flag.Bool("update", false, "rewrite schemas/features/<SetVersion>.json from Names")

// schemaFile mirrors schemas/features/<SetVersion>.json.
type schemaFile struct {
	Version string   `json:"version"`
	DType   string   `json:"dtype"`
	Length  int      `json:"length"`
	Names   []string `json:"names"`
}

// TestSchemaFile checks that the published feature list matches Names, so the
// Python tooling and the ONNX input order stay in step with decide.
func TestSchemaFile(t *testing.T) {
	path := filepath.Join("..", "..", "..", "schemas", "features", SetVersion+".json")
	want := schemaFile{Version: SetVersion, DType: "float32", Length: N, Names: Names[:]}
	if *update {
		b, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v (run go test -run TestSchemaFile -update to create it)", path, err)
	}
	var got schemaFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	if got.Version != want.Version || got.DType != want.DType || got.Length != want.Length {
		t.Errorf("%s header = %q %q %d, want %q %q %d", path, got.Version, got.DType, got.Length, want.Version, want.DType, want.Length)
	}
	if len(got.Names) != N {
		t.Fatalf("%s has %d names, want %d", path, len(got.Names), N)
	}
	for i := range Names {
		if got.Names[i] != Names[i] {
			t.Errorf("%s names[%d] = %q, want %q", path, i, got.Names[i], Names[i])
		}
	}
}

func TestNames(t *testing.T) {
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	seen := map[string]int{}
	for i, n := range Names {
		if !snake.MatchString(n) {
			t.Errorf("Names[%d] = %q, want snake_case", i, n)
		}
		if j, dup := seen[n]; dup {
			t.Errorf("Names[%d] = %q duplicates Names[%d]", i, n, j)
		}
		seen[n] = i
		if got := Index(n); got != i {
			t.Errorf("Index(%q) = %d, want %d", n, got, i)
		}
	}
	if got := Index("no_such_feature"); got != -1 {
		t.Errorf("Index(unknown) = %d, want -1", got)
	}
}

func TestBuild(t *testing.T) {
	const now = int64(1_700_000_000_000)
	m := new(Message)
	ComputeMessage([]byte("LOOK AT THIS https://evil.example.com/x idiot"), 0, 0, false, nil, nil, mustTerms(t, "idiot"), m)
	snap := Snapshot{
		UserMsgCount: 1, UserMsgs10s: 4, UserMsgs60s: 9,
		FirstSeenMs: now - 3_000, LastMsgMs: now - 1_500, SameAsLast: true,
		SysWarns: 2, HumanBans: 1, LastSysActionMs: now - 60_000, LastSysWarnMs: 0,
		ChanMsgs10s: 40, ChanMsgs60s: 200, RaidActive: true, DupCount60s: 7,
	}
	trust := Trust{Subscriber: true, SubMonths: 3, FirstMsg: true, IsAction: true}
	var v Vector
	Build(m, trust, &snap, now, &v)

	l := func(x float64) float32 { return float32(math.Log1p(x)) }
	want := map[string]float32{
		"msg_len_log1p": l(45), "caps_ratio": 10.0 / 15, "links_other": 1, "links_allowed": 0,
		"blocked_terms": 1, "is_subscriber": 1, "sub_months_log1p": l(3), "first_msg": 1, "is_action": 1,
		"is_moderator": 0, "user_msgs_log1p": l(1), "user_msgs_10s_log1p": l(4), "user_msgs_60s_log1p": l(9),
		"user_age_s_log1p": l(3), "since_last_msg_s_log1p": l(1.5), "same_as_last": 1, "sys_warns_log1p": l(2),
		"human_bans_log1p": l(1), "since_sys_action_s_log1p": l(60), "since_sys_warn_s_log1p": l(MaxSinceS),
		"chan_msgs_10s_log1p": l(40), "chan_msgs_60s_log1p": l(200), "raid_active": 1, "dup_60s_log1p": l(7),
		"new_user_links": 1, "caps_x_len": 10.0 / 15 * 15.0 / 40, "dup_x_len": l(7) * (45.0 - 16) / 64,
	}
	for name, w := range want {
		i := Index(name)
		if i < 0 {
			t.Fatalf("no feature %q", name)
		}
		if got := v[i]; math.Abs(float64(got-w)) > 1e-6 {
			t.Errorf("v[%s] = %v, want %v", name, got, w)
		}
	}
}

func TestBuild_Ages(t *testing.T) {
	const now = int64(1_700_000_000_000)
	ageIdx, lastIdx := Index("user_age_s_log1p"), Index("since_last_msg_s_log1p")
	tests := []struct {
		name          string
		first, last   int64
		wantAge, want float64 // seconds fed to log1p
	}{
		{"never_seen", 0, 0, 0, MaxSinceS},
		{"future_clock_skew", now + 5_000, now + 5_000, 0, 0},
		{"old_user_capped", now - 90*24*3600*1000, now - 2*24*3600*1000, MaxUserAgeS, MaxSinceS},
		{"tenths_of_seconds", now - 12_345, now - 250, 12.3, 0.2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v Vector
			Build(new(Message), Trust{}, &Snapshot{FirstSeenMs: tt.first, LastMsgMs: tt.last}, now, &v)
			if got, w := v[ageIdx], float32(math.Log1p(tt.wantAge)); math.Abs(float64(got-w)) > 1e-6 {
				t.Errorf("user_age_s_log1p = %v, want %v", got, w)
			}
			if got, w := v[lastIdx], float32(math.Log1p(tt.want)); math.Abs(float64(got-w)) > 1e-6 {
				t.Errorf("since_last_msg_s_log1p = %v, want %v", got, w)
			}
		})
	}
}

// TestBuild_Pure checks that Build depends only on its arguments: the same
// inputs give the same bits, a nil Snapshot equals the zero one, and no stale
// value survives in a reused Vector.
func TestBuild_Pure(t *testing.T) {
	m := compute(t, sampleTextString(200))
	snap := Snapshot{UserMsgCount: 5, FirstSeenMs: 1, LastMsgMs: 2}
	var a, b Vector
	for i := range b {
		b[i] = float32(math.NaN())
	}
	Build(m, Trust{VIP: true}, &snap, 1_700_000_000_000, &a)
	Build(m, Trust{VIP: true}, &snap, 1_700_000_000_000, &b)
	if a != b {
		t.Errorf("Build is not deterministic:\n%v\n%v", a, b)
	}
	var c, d Vector
	Build(m, Trust{}, nil, 42, &c)
	Build(m, Trust{}, &Snapshot{}, 42, &d)
	if c != d {
		t.Errorf("Build(nil Snapshot) = %v, want %v", c, d)
	}
}

func TestBuild_Allocs(t *testing.T) {
	m := compute(t, "hello")
	snap := Snapshot{UserMsgCount: 5000, FirstSeenMs: 1}
	var v Vector
	if got := testing.AllocsPerRun(100, func() { Build(m, Trust{}, &snap, 1_700_000_000_000, &v) }); got != 0 {
		t.Errorf("Build allocs = %v, want 0", got)
	}
}

func mustTerms(t *testing.T, terms ...string) *BlockedTerms {
	t.Helper()
	bt, err := NewBlockedTerms(terms)
	if err != nil {
		t.Fatal(err)
	}
	return bt
}
