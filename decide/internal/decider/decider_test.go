package decider

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/decide/internal/features"
	"github.com/streamsafe-rl/streamsafe/decide/internal/featurestore"
	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/event/eventtest"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/stream"
)

const t0 = int64(1_700_000_000_000)

// readAs delivers n new chat entries to consumer name without processing
// them: a replica that crashed right after its read.
func (e *env) readAs(t *testing.T, name string, n int64) {
	t.Helper()
	if _, err := e.bus.XReadGroup(context.Background(), &redis.XReadGroupArgs{
		Group: "decide", Consumer: name, Streams: []string{testKeys.Chat, ">"}, Count: n, Block: -1,
	}).Result(); err != nil {
		t.Fatal(err)
	}
}

func mixedChats(n int, ts int64) []event.Chat {
	out := make([]event.Chat, n)
	for i := range out {
		text := fmt.Sprintf("hello there number %d", i)
		switch i % 7 {
		case 0:
			text = "you badword " + fmt.Sprint(i)
		case 1:
			text = "THIS IS SO LOUD I CANNOT STOP SHOUTING AT ALL"
		case 2:
			text = "copy pasta copy pasta copy pasta"
		}
		out[i] = chat(fmt.Sprint("u", i%13), ts+int64(i)*37, text)
	}
	return out
}

func TestDecider_ExactlyOnceAcrossCrashes(t *testing.T) {
	e := newEnv(t, envOpts{minIdle: 300 * time.Millisecond})
	ids := e.add(t, mixedChats(300, t0)...)
	e.readAs(t, "test-0", 40)         // this replica crashed after a read: re-read from its PEL
	e.readAs(t, "dead-replica-0", 30) // another replica died: claimed after min idle

	stop := run(t, e.cons)
	e.waitDecisions(t, 300)
	stop()

	// Crash between batches: a read that never got processed, then restart.
	ids = append(ids, e.add(t, mixedChats(50, t0+20_000)...)...)
	e.readAs(t, "test-1", 20)
	ids = append(ids, e.add(t, mixedChats(30, t0+40_000)...)...)
	run(t, e.cons)
	e.waitDecisions(t, len(ids))
	time.Sleep(50 * time.Millisecond) // would any duplicate still arrive?
	ds := e.decisions(t)
	exactlyOnce(t, ids, ds)
	if p := e.pending(t); p != 0 {
		t.Errorf("pending entries = %d, want 0", p)
	}
	var actions int
	for _, d := range ds {
		if d.ActionFinal.Kind != event.Ignore {
			actions++
		}
		if d.FailureReason != "" {
			t.Errorf("decision %s failed: %s", d.SrcID, d.FailureReason)
		}
	}
	if actions == 0 {
		t.Error("no decision took an action; the test data should trigger some")
	}
}

func TestDecider_FailOpenAndRecovery(t *testing.T) {
	e := newEnv(t, envOpts{workers: 1, storeWait: 50 * time.Millisecond})
	run(t, e.cons)
	e.add(t, chat("a", t0, "you badword"))
	ds := e.waitDecisions(t, 1)
	if ds[0].FailureReason != "" || ds[0].ActionFinal.Kind == event.Ignore {
		t.Fatalf("healthy store: decision %+v, want an action and no failure", ds[0])
	}

	e.fsSrv.Stop()
	e.add(t, chat("b", t0+1000, "you badword"), chat("c", t0+1001, "fine"))
	ds = e.waitDecisions(t, 3)
	for _, d := range ds[1:] {
		if d.ActionFinal != (event.Action{}) || d.Path != event.PathFailOpen ||
			(d.FailureReason != event.FailureFeatureStoreError && d.FailureReason != event.FailureFeatureStoreTimeout) ||
			d.Snapshot != [event.DecisionSnapshotLen]int64{} || d.BehaviourProb != 1 {
			t.Errorf("store down: decision %+v, want IGNORE, fail_open, feature_store_*, zero snapshot, p=1", d)
		}
		if len(d.Features) != features.N || d.RiskScore < 0.9 && strings.Contains(d.MsgID, "b") {
			t.Errorf("store down: the vector and score are still logged, got %d features", len(d.Features))
		}
	}

	e.fsSrv.Restart(t)
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		e.add(t, chat("d", t0+2000+int64(i), "you badword"))
		ds = e.waitDecisions(t, 4+i)
		last := ds[len(ds)-1]
		if last.FailureReason == "" {
			if last.ActionFinal.Kind == event.Ignore {
				t.Errorf("after recovery: %+v, want an action", last)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery after the feature store came back: %+v", last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p := e.pending(t); p != 0 {
		t.Errorf("pending = %d, want 0", p)
	}
}

func TestDecider_MalformedEntries(t *testing.T) {
	e := newEnv(t, envOpts{workers: 1})
	good := chat("u", t0, "ok")
	// edited returns an entry's field/value pairs with edit applied.
	edited := func(kv []any, edit func(m map[string]any)) []any {
		m := map[string]any{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		edit(m)
		var out []any
		for k, v := range m {
			out = append(out, k, v)
		}
		return out
	}
	c := chat("u", t0, "hi")
	vals := func(edit func(m map[string]any)) []any { return edited(c.Values(nil), edit) }
	v1 := func(edit func(m map[string]any)) []any { return edited(eventtest.ChatV1Values(c), edit) }
	huge := strings.Repeat("A", 1<<20)
	type want struct {
		decided bool
		reason  string
	}
	tests := []struct {
		name string
		vals []any
		want want
	}{
		{"good", good.Values(nil), want{true, ""}},
		{"unknown_fields", vals(func(m map[string]any) { m["shiny_new_field"] = "x"; m["another"] = "" }), want{true, ""}},
		{"huge_text", vals(func(m map[string]any) { m[event.FieldText] = huge }), want{true, ""}},
		{"invalid_utf8", vals(func(m map[string]any) { m[event.FieldText] = "\xff\xfe\xfd bad \xc3" }), want{true, ""}},
		{"missing_text", vals(func(m map[string]any) { delete(m, event.FieldText) }), want{true, event.FailureBadInput}},
		{"non_numeric_ts", vals(func(m map[string]any) { m[event.FieldTimes] = "soon,1" }), want{true, event.FailureBadInput}},
		{"short_times", vals(func(m map[string]any) { m[event.FieldTimes] = "1700000000000" }), want{true, event.FailureBadInput}},
		{"non_numeric_months", vals(func(m map[string]any) { m[event.FieldTrust] = "0,0,0,1,1e3,0,0" }), want{true, event.FailureBadInput}},
		{"bad_bool", vals(func(m map[string]any) { m[event.FieldTrust] = "0,yes,0,0,0,0,0" }), want{true, event.FailureBadInput}},
		{"schema_v9", vals(func(m map[string]any) { m[event.FieldSchemaVersion] = "9" }), want{true, event.FailureBadInput}},
		{"negative_numbers", vals(func(m map[string]any) { m[event.FieldTextMeta] = "0,-5,0"; m[event.FieldTrust] = "0,0,0,0,-9,0,0" }), want{true, ""}},
		{"schema_v1", eventtest.ChatV1Values(good), want{true, ""}}, // written by an ingest before version 2
		{"schema_v1_bad_ts", v1(func(m map[string]any) { m[event.FieldTmiSentTs] = "soon" }), want{true, event.FailureBadInput}},
		{"no_msg_id", vals(func(m map[string]any) { delete(m, event.FieldMsgID) }), want{false, ""}},
		{"garbage", []any{"x", "y"}, want{false, ""}},
	}
	idOf := map[string]string{}
	for _, tt := range tests {
		idOf[e.addRaw(t, tt.vals...)] = tt.name
	}
	run(t, e.cons)
	var decided int
	for _, tt := range tests {
		if tt.want.decided {
			decided++
		}
	}
	ds := e.waitDecisions(t, decided)
	deadline := time.Now().Add(5 * time.Second)
	for e.pending(t) != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	got := map[string]event.Decision{}
	for _, d := range ds {
		got[idOf[d.SrcID]] = d
	}
	for _, tt := range tests {
		d, ok := got[tt.name]
		if ok != tt.want.decided {
			t.Errorf("%s: decided = %v, want %v", tt.name, ok, tt.want.decided)
			continue
		}
		if ok && d.FailureReason != tt.want.reason {
			t.Errorf("%s: failure_reason = %q, want %q", tt.name, d.FailureReason, tt.want.reason)
		}
		if ok && tt.want.reason != "" && (d.ActionFinal != event.Action{} || d.Path != event.PathFailOpen) {
			t.Errorf("%s: %s via %s, want IGNORE via fail_open", tt.name, d.ActionFinal, d.Path)
		}
	}
	if d := got["huge_text"]; d.MsgFeatures[event.DecisionMsgFeatureLen-8] != 1 {
		t.Errorf("huge text: truncated flag = %v, want 1", d.MsgFeatures[event.DecisionMsgFeatureLen-8])
	}
	dl, _ := e.bus.XLen(context.Background(), testKeys.DeadLetter).Result()
	if dl != 2 {
		t.Errorf("dead letters = %d, want 2 (no msg_id, garbage)", dl)
	}
	if p := e.pending(t); p != 0 {
		t.Errorf("pending = %d, want 0", p)
	}
}

func TestDecider_RetriedWriteIsIdempotent(t *testing.T) {
	for _, lose := range []bool{false, true} {
		t.Run(fmt.Sprintf("lose_reply=%v", lose), func(t *testing.T) {
			e := newEnv(t, envOpts{workers: 1})
			fd := &flakyDial{loseReply: lose}
			fd.n.Store(2)
			bus := e.bus.Options()
			bus.Dialer = fd.dial
			var err error
			e.dec, err = New(Config{DecisionsStream: testKeys.Decisions, Budget: time.Second},
				Deps{Core: e.core, Store: e.store, Bus: bus, Executor: e.exec, Terms: testTerms(t), Log: logging.Discard(), Metrics: e.metrics})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(e.dec.Close)
			e.cons = e.consumer(t, envOpts{workers: 1})
			ids := e.add(t, chat("u", t0, "you badword"), chat("u", t0+100, "hello"), chat("v", t0+200, "hi"))
			run(t, e.cons)
			e.waitDecisions(t, 3)
			time.Sleep(100 * time.Millisecond)
			ds := e.decisions(t)
			exactlyOnce(t, ids, ds)
			// The store counted every message once despite the retries.
			out := make([]features.Snapshot, 1)
			if err := e.store.Snapshots(context.Background(), []featurestore.Msg{{Channel: "chan", UserID: "u", MsgID: "probe", TsMs: t0 + 300}}, out); err != nil {
				t.Fatal(err)
			}
			if out[0].UserMsgCount != 2 || out[0].SysWarns+out[0].SysTimeouts+out[0].SysDeletes != 1 {
				t.Errorf("store after retries: %+v, want 2 messages and 1 system action", out[0])
			}
			// Every submit of a decision carried the same id and action.
			seen := map[string]event.Action{}
			for _, r := range e.exec.requests() {
				if a, ok := seen[r.DecisionID]; ok && a != r.Action {
					t.Errorf("decision %s submitted as %s and %s", r.DecisionID, a, r.Action)
				}
				seen[r.DecisionID] = r.Action
			}
			if len(seen) != 1 {
				t.Errorf("%d distinct decisions submitted, want 1", len(seen))
			}
			// Both injected failures happened, and each was a write error.
			if left := fd.n.Load(); left >= 0 {
				t.Errorf("%d injected failures left unused", left+1)
			}
			if n := metricValue(e.metrics.writeErrors); n != 2 {
				t.Errorf("write errors = %v, want 2", n)
			}
			// Redis ran the EXECs whose reply was lost, and never saw the
			// failed ones: at least 3 (two lost, one that succeeded), or
			// fewer than 3.
			info, err := e.bus.Info(context.Background(), "commandstats").Result()
			if err != nil {
				t.Fatal(err)
			}
			m := regexp.MustCompile(`cmdstat_exec:calls=(\d+)`).FindStringSubmatch(info)
			if m == nil {
				t.Fatalf("no cmdstat_exec in %q", info)
			}
			if execs, _ := strconv.Atoi(m[1]); (execs >= 3) != lose {
				t.Errorf("Redis ran %d EXECs; want at least 3 exactly when replies were lost (lose_reply=%v)", execs, lose)
			}
		})
	}
}

func TestDecider_OverlaysActionsWithinBatch(t *testing.T) {
	e := newEnv(t, envOpts{workers: 1})
	e.add(t, chat("u", t0, "you badword"), chat("u", t0+50, "you badword again"), chat("w", t0+60, "you badword"))
	run(t, e.cons)
	ds := e.waitDecisions(t, 3)
	first, second, other := ds[0], ds[1], ds[2]
	if first.ActionFinal.Kind == event.Ignore {
		t.Fatalf("first decision %s, want an action", first.ActionFinal)
	}
	iSysAct := 12 // last_sys_action_ms
	if event.DecisionSnapshotNames[iSysAct] != "last_sys_action_ms" {
		t.Fatal("snapshot layout changed")
	}
	if second.Snapshot[iSysAct] != first.EventTimeMs {
		t.Errorf("second message's last_sys_action_ms = %d, want the first's time %d", second.Snapshot[iSysAct], first.EventTimeMs)
	}
	if other.Snapshot[iSysAct] != 0 {
		t.Errorf("another user's last_sys_action_ms = %d, want 0", other.Snapshot[iSysAct])
	}
}

func TestDecider_ModEventsReachSnapshots(t *testing.T) {
	e := newEnv(t, envOpts{workers: 1})
	mh := NewModHandler(e.store, logging.Discard(), e.metrics)
	mc, err := stream.NewConsumer(e.bus, stream.ConsumerConfig{
		Stream: testKeys.Mod, Group: "decide-mod", DeadLetter: testKeys.DeadLetter, ConsumerPrefix: "test",
		Workers: 1, Block: 20 * time.Millisecond, MinIdle: time.Minute, InfoInterval: -1,
	}, mh, logging.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []event.Mod{
		{Kind: event.ModBan, Channel: "chan", TargetUserID: "banned", TmiSentTsMs: t0},
		{Kind: event.ModRaid, Channel: "chan", TmiSentTsMs: t0},
	} {
		if err := e.bus.XAdd(context.Background(), &redis.XAddArgs{Stream: testKeys.Mod, Values: m.Values(nil)}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.bus.XAdd(context.Background(), &redis.XAddArgs{Stream: testKeys.Mod, Values: []any{"kind", "nonsense"}}).Err(); err != nil {
		t.Fatal(err)
	}
	run(t, mc)
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, _ := e.bus.XPending(context.Background(), testKeys.Mod, "decide-mod").Result()
		n, _ := e.bus.XLen(context.Background(), testKeys.DeadLetter).Result()
		if p != nil && p.Count == 0 && n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("mod events not processed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.add(t, chat("banned", t0+1000, "hi again"))
	run(t, e.cons)
	d := e.waitDecisions(t, 1)[0]
	if d.Snapshot[11] != 1 || d.Snapshot[16] != 1 {
		t.Errorf("snapshot %v, want human_bans 1 and raid_active 1", d.Snapshot)
	}
}

func TestCore_Deterministic(t *testing.T) {
	core := testCore(t, 0.3)
	var m features.Message
	features.ComputeMessage([]byte("WOW THIS badword IS LOUD https://x.example"), 1, 3, false, nil, nil, testTerms(t), &m)
	in := Inputs{DecisionID: event.DecisionID("1-0", "m"), Channel: []byte("chan"), Msg: &m, NowMs: t0,
		Trust: features.Trust{FirstMsg: true}, Snap: features.Snapshot{UserMsgCount: 3, ChanMsgs10s: 9, LastSysWarnMs: t0 - 5000}}
	var v1, v2 features.Vector
	var d1, d2 event.Decision
	core.Decide(&in, &v1, &d1)
	for range 100 {
		core.Decide(&in, &v2, &d2)
		if !reflect.DeepEqual(d1, d2) || v1 != v2 {
			t.Fatalf("Decide is not deterministic:\n%+v\n%+v", d1, d2)
		}
	}
	// The packed message features rebuild the very same vector.
	var m2 features.Message
	if err := UnpackMessage(PackMessage(&m, nil), m.Hash, &m2); err != nil {
		t.Fatal(err)
	}
	in.Msg = &m2
	var d3 event.Decision
	core.Decide(&in, &v2, &d3)
	if !reflect.DeepEqual(d1, d3) {
		t.Errorf("decision from packed features differs:\n%+v\n%+v", d1, d3)
	}
	in.FailureReason = event.FailureFeatureStoreTimeout
	core.Decide(&in, &v2, &d3)
	if d3.ActionFinal != (event.Action{}) || d3.Path != event.PathFailOpen || d3.BehaviourProb != 1 || d3.Probs[0] != 1 {
		t.Errorf("fail-open decision = %+v, want IGNORE, fail_open, p=1", d3)
	}
}

func TestPackMessage_CoversEveryField(t *testing.T) {
	// Every exported field of features.Message but Hash (logged as
	// text_hash) must be packed: set each to a distinct value and check
	// that the round trip keeps it.
	var m features.Message
	rv := reflect.ValueOf(&m).Elem()
	n := 0
	for i := range rv.NumField() {
		f := rv.Field(i)
		if !rv.Type().Field(i).IsExported() || rv.Type().Field(i).Name == "Hash" {
			continue
		}
		n++
		switch f.Kind() {
		case reflect.Int:
			f.SetInt(int64(100 + i))
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Float32:
			f.SetFloat(float64(float32(i) / 97))
		default:
			t.Fatalf("field %s has kind %s: extend PackMessage", rv.Type().Field(i).Name, f.Kind())
		}
	}
	if n != event.DecisionMsgFeatureLen {
		t.Fatalf("features.Message has %d packable fields, event.DecisionMsgFeatureNames %d", n, event.DecisionMsgFeatureLen)
	}
	m.Hash = math.MaxUint64
	var got features.Message
	if err := UnpackMessage(PackMessage(&m, nil), m.Hash, &got); err != nil {
		t.Fatal(err)
	}
	gv := reflect.ValueOf(&got).Elem()
	for i := range rv.NumField() {
		if rv.Type().Field(i).IsExported() && !reflect.DeepEqual(rv.Field(i).Interface(), gv.Field(i).Interface()) {
			t.Errorf("field %s: got %v, want %v", rv.Type().Field(i).Name, gv.Field(i), rv.Field(i))
		}
	}
	// Names and packing agree on the order of a few anchors.
	p := PackMessage(&m, nil)
	for _, c := range []struct {
		name string
		want float64
	}{{"runes", float64(m.Runes)}, {"first_term", float64(m.FirstTerm)}, {"obfuscation_ratio", float64(m.ObfuscationRatio)}} {
		for i, n := range event.DecisionMsgFeatureNames {
			if n == c.name && p[i] != c.want {
				t.Errorf("packed %s = %v, want %v", n, p[i], c.want)
			}
		}
	}
}

func TestWriteOutcome(t *testing.T) {
	ok, queued, bulk, num := stream.Reply{Kind: '+'}, stream.Reply{Kind: '+'}, stream.Reply{Kind: '$', Int: 15}, stream.Reply{Kind: ':', Int: 2}
	e := func(s string) stream.Reply { return stream.Reply{Kind: '-', Err: stream.RawError(s)} }
	arr := func(n int64) stream.Reply { return stream.Reply{Kind: '*', Int: n} }
	boom := errors.New("connection reset")
	tests := []struct {
		name   string
		reps   []stream.Reply
		queued int
		err    error
		want   int
	}{
		{"ok", []stream.Reply{ok, queued, queued, queued, arr(3), bulk, bulk, num}, 3, nil, writeOK},
		{"connection_lost", []stream.Reply{ok, queued}, 3, boom, writeFailed},
		{"execabort", []stream.Reply{ok, queued, e("ERR wrong number of arguments"), e("EXECABORT Transaction discarded")}, 2, nil, writeFailed},
		{"exec_error", []stream.Reply{ok, queued, e("EXECABORT x")}, 1, nil, writeFailed},
		{"ack_failed", []stream.Reply{ok, queued, queued, queued, arr(3), bulk, bulk, e("NOGROUP no such group")}, 3, nil, writeNotAcked},
		{"wrongtype", []stream.Reply{ok, queued, queued, arr(2), e("WRONGTYPE Operation"), num}, 2, nil, writeLost},
		{"short", []stream.Reply{ok, queued, arr(1)}, 1, nil, writeFailed},
		{"null_exec", []stream.Reply{ok, queued, arr(-1)}, 1, nil, writeFailed},
	}
	for _, tt := range tests {
		got, err := writeOutcome(tt.reps, tt.queued, tt.err)
		if got != tt.want || (got == writeOK) != (err == nil) {
			t.Errorf("%s: writeOutcome = %d, %v; want %d (and an error unless ok)", tt.name, got, err, tt.want)
		}
	}
}

// TestDecider_RawConnectionsKilled: the bus drops every connection (the
// decider's own ones for writing included) between batches; later batches
// are still decided exactly once.
func TestDecider_RawConnectionsKilled(t *testing.T) {
	e := newEnv(t, envOpts{workers: 2})
	run(t, e.cons)
	ctx := context.Background()
	var ids []string
	for round := range 3 {
		ids = append(ids, e.add(t, chat("u", t0+int64(round)*1000, "hello"), chat("v", t0+int64(round)*1000+1, "you badword"))...)
		e.waitDecisions(t, len(ids))
		if err := e.bus.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
			t.Fatal(err)
		}
	}
	ids = append(ids, e.add(t, chat("w", t0+5000, "hi"))...)
	e.waitDecisions(t, len(ids))
	time.Sleep(100 * time.Millisecond)
	exactlyOnce(t, ids, e.decisions(t))
	if n := metricValue(e.metrics.writeErrors); n < 1 {
		t.Errorf("write errors = %v, want >= 1 (a batch met a killed connection and was retried)", n)
	}
}

// TestDecider_WrongTypeDecisionsKey documents why run checks the decisions
// key at start: MULTI does not roll back, so the XACK succeeds while the
// XADD fails, and the loss is counted.
func TestDecider_WrongTypeDecisionsKey(t *testing.T) {
	e := newEnv(t, envOpts{workers: 1})
	if err := e.bus.Set(context.Background(), testKeys.Decisions, "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	e.add(t, chat("u", t0, "hello"))
	run(t, e.cons)
	deadline := time.Now().Add(5 * time.Second)
	for metricValue(e.metrics.lost) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("decisions_lost_total = %v, want 1", metricValue(e.metrics.lost))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if p := e.pending(t); p != 0 {
		t.Errorf("pending = %d, want 0 (acked despite the failed XADD)", p)
	}
}

func metricValue(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// sampleCount returns the observations of a histogram.
func sampleCount(h prometheus.Observer) uint64 {
	var m dto.Metric
	if err := h.(prometheus.Metric).Write(&m); err != nil {
		return 0
	}
	return m.GetHistogram().GetSampleCount()
}

// TestDecider_FlatFields runs the end-to-end decider tests again with the
// chat consumer decide's main uses: its own RESP reader and flat fields.
func TestDecider_FlatFields(t *testing.T) {
	flatChat = true
	defer func() { flatChat = false }()
	for name, f := range map[string]func(*testing.T){
		"ExactlyOnceAcrossCrashes":   TestDecider_ExactlyOnceAcrossCrashes,
		"FailOpenAndRecovery":        TestDecider_FailOpenAndRecovery,
		"MalformedEntries":           TestDecider_MalformedEntries,
		"RetriedWriteIsIdempotent":   TestDecider_RetriedWriteIsIdempotent,
		"OverlaysActionsWithinBatch": TestDecider_OverlaysActionsWithinBatch,
	} {
		t.Run(name, f)
	}
}
