package executor

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/config"
	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/redistest"
	"github.com/streamsafe-rl/streamsafe/shared/twitchsim"
)

func TestPool_ExecutesEachAction(t *testing.T) {
	e := newTestEnv(t, nil)
	p := e.newPool(t, e.config(t))
	reqs := []Request{
		request(event.Timeout, "555", 600),
		request(event.Delete, "556", 0),
		request(event.Warn, "557", 0),
	}
	for _, r := range reqs {
		if !p.Submit(context.Background(), r) {
			t.Fatalf("Submit(%s) = false, want true", r.Action)
		}
	}
	got := e.results(t, 3)
	byMsg := map[string]map[string]string{}
	for _, r := range got {
		byMsg[r[FieldMsgID]] = r
	}
	wantHTTP := []string{"200", "204", "200"}
	for i, r := range reqs {
		res := byMsg[r.MsgID]
		if res[FieldStatus] != "success" || res[FieldHTTPStatus] != wantHTTP[i] || res[FieldAttempts] != "1" ||
			res[FieldAction] != r.Action.String() || res[FieldDecisionID] != r.DecisionID || res[FieldRoomID] != testRoom ||
			res[FieldUserID] != r.UserID || res[FieldSchemaVersion] != "1" || res[FieldError] != "" {
			t.Errorf("result for %s = %v, want success, http %s, 1 attempt", r.Action, res, wantHTTP[i])
		}
		if us, _ := strconv.ParseInt(res[FieldLatencyUs], 10, 64); us <= 0 {
			t.Errorf("latency_us for %s = %q, want > 0", r.Action, res[FieldLatencyUs])
		}
		if at, _ := strconv.ParseInt(res[FieldExecutedAtUs], 10, 64); time.Since(time.UnixMicro(at)) > time.Minute {
			t.Errorf("executed_at_us for %s = %q, want about now", r.Action, res[FieldExecutedAtUs])
		}
	}
	acts := e.sim.Actions()
	if len(acts) != 3 {
		t.Fatalf("simulator accepted %d actions, want 3: %+v", len(acts), acts)
	}
	for _, a := range acts {
		switch a.Kind {
		case event.ModTimeout:
			if a.UserID != "555" || a.DurationS != 600 || a.Reason != "test" || a.ModeratorID != testBot || a.BroadcasterID != testRoom {
				t.Errorf("timeout = %+v, want user 555 for 600 s", a)
			}
		case event.ModDelete:
			if a.MsgID != reqs[1].MsgID {
				t.Errorf("delete = %+v, want message %s", a, reqs[1].MsgID)
			}
		case event.ModWarn:
			if a.UserID != "557" || a.Reason != "test" {
				t.Errorf("warn = %+v, want user 557 with the reason", a)
			}
		default:
			t.Errorf("unexpected action %+v", a)
		}
	}
	if n := metric(t, e.reg, "streamsafe_decide_executor_results_total", "action", "TIMEOUT", "status", "success"); n != 1 {
		t.Errorf("results_total{TIMEOUT,success} = %g, want 1", n)
	}
	if n := metric(t, e.reg, "streamsafe_decide_executor_latency_seconds", "action", "DELETE"); n != 1 {
		t.Errorf("latency_seconds{DELETE} count = %g, want 1", n)
	}
	if n := metric(t, e.reg, "streamsafe_decide_executor_http_requests_total", "endpoint", "ban", "code", "200"); n != 1 {
		t.Errorf("http_requests_total{ban,200} = %g, want 1", n)
	}
}

func TestPool_NoDuplicateActions(t *testing.T) {
	e := newTestEnv(t, nil)
	cfg := e.config(t)
	p1 := e.newPool(t, cfg)
	// A second instance sharing Redis, as after a restart or a scale-out.
	p2, err := New(cfg, e.rdb, nil, e.log)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close(context.Background())

	timeout := request(event.Timeout, "555", 60)
	longer := timeout
	longer.Action.DurationS = 600 // same message, same kind: still a duplicate
	del := request(event.Delete, "556", 0)
	for _, s := range []struct {
		p *Pool
		r Request
	}{{p1, timeout}, {p1, timeout}, {p2, timeout}, {p1, longer}, {p1, del}, {p2, del}, {p2, del}} {
		s.p.Submit(context.Background(), s.r)
	}
	got := e.results(t, 7)
	statuses := map[string]int{}
	for _, r := range got {
		statuses[r[FieldStatus]]++
	}
	if statuses["success"] != 2 || statuses["duplicate"] != 5 {
		t.Errorf("statuses = %v, want 2 success and 5 duplicate", statuses)
	}
	if n := count(e.sim, event.ModTimeout, "555"); n != 1 {
		t.Errorf("simulator timed out user 555 %d times, want 1", n)
	}
	if n := count(e.sim, event.ModDelete, del.MsgID); n != 1 {
		t.Errorf("simulator deleted %s %d times, want 1", del.MsgID, n)
	}
	ttl, err := e.rdb.TTL(context.Background(), DefaultIdempotencyPrefix+timeout.MsgID+":TIMEOUT").Result()
	if err != nil || ttl <= 23*time.Hour || ttl > 24*time.Hour {
		t.Errorf("idempotency key TTL = %s, %v; want about 24h", ttl, err)
	}
	// A different kind of action on the same message is not a duplicate.
	warn := timeout
	warn.Action = event.Action{Kind: event.Warn}
	p1.Submit(context.Background(), warn)
	e.results(t, 8)
	if n := count(e.sim, event.ModWarn, "555"); n != 1 {
		t.Errorf("warn after timeout on the same message: %d warnings, want 1", n)
	}
}

func TestPool_Retries(t *testing.T) {
	tests := []struct {
		name         string
		faults       twitchsim.HelixFaults
		maxRetries   int
		wantStatus   string
		wantAttempts string
		wantHTTP     string
		wantActions  int
		wantErr      string
		retryReason  string
		minElapsed   time.Duration
	}{
		{"503_then_success", twitchsim.HelixFaults{Status: 503, Count: 1}, 3, "success", "2", "200", 1, "", "5xx", 0},
		{"429_waits_for_reset", twitchsim.HelixFaults{Status: 429, Count: 1}, 3, "success", "2", "200", 1, "", "429", 0},
		{"5xx_bounded", twitchsim.HelixFaults{Status: 500, Count: 100}, 2, "failed", "3", "500", 0, "give up after 3 attempts", "5xx", 0},
		{"no_retries", twitchsim.HelixFaults{Status: 502, Count: 100}, 0, "failed", "1", "502", 0, "give up after 1 attempts", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, nil)
			cfg := e.config(t)
			cfg.MaxRetries = tt.maxRetries
			p := e.newPool(t, cfg)
			if err := e.sim.SetFaults(tt.faults); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			req := request(event.Timeout, "555", 60)
			p.Submit(context.Background(), req)
			r := e.results(t, 1)[0]
			elapsed := time.Since(start)
			if r[FieldStatus] != tt.wantStatus || r[FieldAttempts] != tt.wantAttempts || r[FieldHTTPStatus] != tt.wantHTTP || !strings.Contains(r[FieldError], tt.wantErr) {
				t.Errorf("result = %v, want status %s, %s attempts, http %s, error containing %q", r, tt.wantStatus, tt.wantAttempts, tt.wantHTTP, tt.wantErr)
			}
			if n := count(e.sim, event.ModTimeout, "555"); n != tt.wantActions {
				t.Errorf("simulator actions = %d, want %d", n, tt.wantActions)
			}
			wantRequests, _ := strconv.Atoi(tt.wantAttempts)
			if st := e.sim.Stats(); st.Requests != int64(wantRequests) {
				t.Errorf("simulator saw %d requests, want %d", st.Requests, wantRequests)
			}
			if tt.retryReason != "" {
				if n := metric(t, e.reg, "streamsafe_decide_executor_retries_total", "action", "TIMEOUT", "reason", tt.retryReason); n != float64(wantRequests-1) {
					t.Errorf("retries_total{%s} = %g, want %d", tt.retryReason, n, wantRequests-1)
				}
			}
			if tt.retryReason == "429" {
				// The 429 said Ratelimit-Reset = the next whole second; the
				// retry must not come before it.
				acts := e.sim.Actions()
				if len(acts) == 1 && acts[0].At.Unix() <= start.Unix() {
					t.Errorf("retry after 429 at %s, want at or after the reset second %d (elapsed %s)", acts[0].At, start.Unix()+1, elapsed)
				}
			}
		})
	}
}

func TestPool_PermanentErrors(t *testing.T) {
	e := newTestEnv(t, func(c *twitchsim.HelixConfig) {
		c.Moderators = map[string][]string{testRoom: {testBot}} // the bot moderates only room 100
	})
	p := e.newPool(t, e.config(t))

	// A permanent ban placed by someone else: our timeout is "already" done.
	banned := request(event.Timeout, "777", 60)
	hreq, _ := http.NewRequest("POST", e.simURL+"/moderation/bans?broadcaster_id=100&moderator_id=900", strings.NewReader(`{"data":{"user_id":"777"}}`))
	hreq.Header.Set("Authorization", "Bearer "+testToken)
	hreq.Header.Set("Client-Id", testClientID)
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("pre-ban = %v %v", resp, err)
	}
	resp.Body.Close()

	notMod := request(event.Timeout, "555", 60)
	notMod.BroadcasterID = "101"
	broadcaster := request(event.Warn, testRoom, 0)
	for _, r := range []Request{banned, notMod, broadcaster} {
		p.Submit(context.Background(), r)
	}
	got := map[string]map[string]string{}
	for _, r := range e.results(t, 3) {
		got[r[FieldMsgID]] = r
	}
	tests := []struct {
		req        Request
		wantStatus string
		wantHTTP   string
		wantErr    string
	}{
		{banned, "already", "400", ""},
		{notMod, "failed", "403", "helix answered 403: The user in moderator_id is not one of the broadcaster's moderators."},
		{broadcaster, "failed", "400", "may not be warned"},
	}
	for _, tt := range tests {
		r := got[tt.req.MsgID]
		if r[FieldStatus] != tt.wantStatus || r[FieldHTTPStatus] != tt.wantHTTP || r[FieldAttempts] != "1" || !strings.Contains(r[FieldError], tt.wantErr) {
			t.Errorf("result for %s = %v, want %s, http %s, 1 attempt, error %q", tt.req.MsgID, r, tt.wantStatus, tt.wantHTTP, tt.wantErr)
		}
	}
}

func TestPool_Invalid(t *testing.T) {
	e := newTestEnv(t, nil)
	p := e.newPool(t, e.config(t))
	noMsg := request(event.Delete, "555", 0)
	noMsg.MsgID = ""
	zeroTimeout := request(event.Timeout, "555", 0) // Helix would ban permanently
	hugeTimeout := request(event.Timeout, "555", 1_209_601)
	badID := request(event.Warn, "55 5", 0)
	selfTimeout := request(event.Timeout, testRoom, 60)
	for _, r := range []Request{noMsg, zeroTimeout, hugeTimeout, badID, selfTimeout} {
		p.Submit(context.Background(), r)
	}
	for _, r := range e.results(t, 5) {
		if r[FieldStatus] != "invalid" || r[FieldAttempts] != "0" {
			t.Errorf("result = %v, want invalid with 0 attempts", r)
		}
		if r[FieldMsgID] == "" && !strings.Contains(r[FieldError], "delete without message id") {
			t.Errorf("delete without message id: error %q, want it named", r[FieldError])
		}
	}
	if st := e.sim.Stats(); st.Requests != 0 || st.ChatClears != 0 {
		t.Errorf("simulator stats = %+v, want no request at all", st)
	}
	if n, _ := e.rdb.Keys(context.Background(), DefaultIdempotencyPrefix+"*").Result(); len(n) != 0 {
		t.Errorf("idempotency keys %v set for invalid requests, want none", n)
	}
}

func TestHelix_DeleteWithoutMessageIDRefused(t *testing.T) {
	e := newTestEnv(t, nil)
	h, err := NewHelix(e.config(t).HelixConfig, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	req := request(event.Delete, "555", 0)
	req.MsgID = ""
	out := h.Execute(context.Background(), &req)
	if out.Status != StatusInvalid || !isErr(out.Err, ErrNoMessageID) || out.Attempts != 0 {
		t.Errorf("Execute(delete without msg id) = %+v, want invalid with ErrNoMessageID and no attempt", out)
	}
	if st := e.sim.Stats(); st.Requests != 0 || st.ChatClears != 0 {
		t.Errorf("simulator stats = %+v, want no request", st)
	}
}

func TestPool_IdempotencyUnavailable(t *testing.T) {
	e := newTestEnv(t, nil)
	down := redistest.StartServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: down.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	down.Stop()
	p, err := New(e.config(t), rdb, e.reg, e.log)
	if err != nil {
		t.Fatal(err)
	}
	p.Submit(context.Background(), request(event.Timeout, "555", 60))
	deadline := time.Now().Add(10 * time.Second)
	for metric(t, e.reg, "streamsafe_decide_executor_results_total", "action", "TIMEOUT", "status", "idempotency_unavailable") != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no idempotency_unavailable result within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = p.Close(context.Background())
	if n := len(e.sim.Actions()); n != 0 {
		t.Errorf("simulator accepted %d actions while Redis was down, want 0 (fail safe)", n)
	}
	if n := metric(t, e.reg, "streamsafe_decide_executor_results_lost_total"); n != 1 {
		t.Errorf("results_lost_total = %g, want 1 (the stream is on the same Redis)", n)
	}
}

func TestPool_DropWhenFull(t *testing.T) {
	e := newTestEnv(t, nil)
	cfg := e.config(t)
	cfg.QueueSize, cfg.Workers = 2, 1
	b := &blockingBackend{release: make(chan struct{}), started: make(chan struct{}, 1)}
	p, err := NewPool(cfg, b, e.rdb, e.reg, e.log)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Submit(context.Background(), request(event.Warn, "1", 0)) {
		t.Fatal("first Submit = false")
	}
	<-b.started // the worker holds the first request
	// Submitted one by one (time for the claimer to move each on): one more
	// waits in the work channel (Workers), one in the claimer, QueueSize in
	// the queue; the next is dropped.
	accepted := 1
	for i := range 20 {
		time.Sleep(20 * time.Millisecond)
		if !p.Submit(context.Background(), request(event.Warn, strconv.Itoa(2+i), 0)) {
			break
		}
		accepted++
	}
	if accepted != 5 {
		t.Errorf("%d requests accepted before the first drop, want 5 (1 running, 1 handed over, 1 claimed, 2 queued)", accepted)
	}
	if p.Submit(context.Background(), request(event.Warn, "99", 0)) {
		t.Errorf("Submit on a full queue = true, want false")
	}
	if n := metric(t, e.reg, "streamsafe_decide_executor_queue_depth"); n != 2 {
		t.Errorf("queue_depth = %g, want 2", n)
	}
	if !p.Submit(context.Background(), Request{Action: event.Action{Kind: event.Ignore}}) {
		t.Errorf("Submit(IGNORE) on a full queue = false, want true (nothing to do)")
	}
	close(b.release)
	if err := p.Close(context.Background()); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	statuses := map[string]int{}
	for _, r := range e.results(t, 7) {
		statuses[r[FieldStatus]]++
	}
	if statuses["success"] != 5 || statuses["dropped"] != 2 {
		t.Errorf("statuses = %v, want 5 success and 2 dropped", statuses)
	}
	if n := metric(t, e.reg, "streamsafe_decide_executor_results_total", "action", "WARN", "status", "dropped"); n != 2 {
		t.Errorf("results_total{WARN,dropped} = %g, want 2", n)
	}
	if p.Submit(context.Background(), request(event.Warn, "9", 0)) {
		t.Errorf("Submit after Close = true, want false")
	}
}

func TestPool_CloseDeadline(t *testing.T) {
	e := newTestEnv(t, nil)
	cfg := e.config(t)
	cfg.QueueSize, cfg.Workers = 10, 1
	b := &blockingBackend{release: make(chan struct{}), started: make(chan struct{}, 1)}
	p, err := NewPool(cfg, b, e.rdb, e.reg, e.log)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		p.Submit(context.Background(), request(event.Warn, strconv.Itoa(i), 0))
	}
	<-b.started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = p.Close(ctx)
	if !isErr(err, ErrNotDrained) || !strings.Contains(err.Error(), "3 requests canceled") {
		t.Errorf("Close() = %v, want ErrNotDrained with 3 canceled", err)
	}
	statuses := map[string]int{}
	for _, r := range e.results(t, 4) {
		statuses[r[FieldStatus]]++
	}
	if statuses["failed"] != 1 || statuses["canceled"] != 3 {
		t.Errorf("statuses = %v, want the running request failed and 3 canceled", statuses)
	}
}

func TestPool_DryRunIsDefault(t *testing.T) {
	e := newTestEnv(t, nil)
	cfg := DefaultConfig()
	cfg.ResultsStream = testStream
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if m := cfg.EffectiveMode(); m != ModeDryRun {
		t.Fatalf("EffectiveMode() without credentials = %s, want dryrun", m)
	}
	p := e.newPool(t, cfg)
	req := request(event.Timeout, "555", 60)
	p.Submit(context.Background(), req)
	p.Submit(context.Background(), req)
	statuses := map[string]int{}
	for _, r := range e.results(t, 2) {
		statuses[r[FieldStatus]]++
	}
	if statuses["dry_run"] != 1 || statuses["duplicate"] != 1 {
		t.Errorf("statuses = %v, want one dry_run and one duplicate", statuses)
	}
	dr, ok := p.backend.(*DryRun)
	if !ok {
		t.Fatalf("backend = %T, want *DryRun", p.backend)
	}
	if recent, total := dr.Requests(); total != 1 || recent[0].MsgID != req.MsgID {
		t.Errorf("DryRun.Requests() = %v, %d; want the one request", recent, total)
	}
	if !strings.Contains(e.logs.String(), `"msg":"dry run: would execute"`) {
		t.Errorf("debug log lacks the dry-run line")
	}
	if st := e.sim.Stats(); st.Requests != 0 {
		t.Errorf("simulator saw %d requests in dry-run mode, want 0", st.Requests)
	}
}

func TestPool_SecretsNeverLogged(t *testing.T) {
	e := newTestEnv(t, nil)
	cfg := e.config(t)
	p := e.newPool(t, cfg)
	if err := e.sim.SetFaults(twitchsim.HelixFaults{Status: 503, Count: 1}); err != nil {
		t.Fatal(err)
	}
	p.Submit(context.Background(), request(event.Timeout, "555", 60))
	p.Submit(context.Background(), request(event.Delete, "555", 0))
	// A pool with a token the simulator rejects: 401 paths are logged too.
	bad := cfg
	bad.Token = config.NewSecret(testToken + "-revoked")
	pb, err := New(bad, e.rdb, nil, e.log)
	if err != nil {
		t.Fatal(err)
	}
	pb.Submit(context.Background(), request(event.Warn, "555", 0))
	results := e.results(t, 3)
	_ = pb.Close(context.Background())
	e.log.Info("executor config", "config", cfg, "helix", cfg.HelixConfig, "summary", cfg.String())

	logs := e.logs.String()
	if !strings.Contains(logs, "helix answered 401") {
		t.Errorf("logs lack the 401 failure; the test would not prove anything:\n%s", logs)
	}
	var all strings.Builder
	all.WriteString(logs)
	for _, r := range results {
		all.WriteString(r[FieldError])
	}
	for _, secret := range []string{testToken, testClientID} {
		if strings.Contains(all.String(), secret) {
			t.Errorf("secret %q appears in logs or results", secret)
		}
	}
}

// claimCounter counts the pipelines that claim idempotency keys.
type claimCounter struct {
	mu        sync.Mutex
	pipelines int
	keys      int
}

func (*claimCounter) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (*claimCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (c *claimCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		n := 0
		for _, cmd := range cmds {
			if cmd.Name() == "set" {
				n++
			}
		}
		if n > 0 {
			c.mu.Lock()
			c.pipelines++
			c.keys += n
			c.mu.Unlock()
		}
		return next(ctx, cmds)
	}
}

// A burst of requests is claimed in a few round trips, not one per request,
// and each still runs once.
func TestPool_ClaimsInBatches(t *testing.T) {
	e := newTestEnv(t, nil)
	cfg := e.config(t)
	cfg.Workers = 1
	cc := &claimCounter{}
	rdb := redis.NewClient(&redis.Options{Addr: e.rdb.Options().Addr})
	defer rdb.Close()
	rdb.AddHook(cc)
	b := &blockingBackend{release: make(chan struct{}), started: make(chan struct{}, 100)}
	p, err := NewPool(cfg, b, rdb, e.reg, e.log)
	if err != nil {
		t.Fatal(err)
	}
	p.Submit(context.Background(), request(event.Warn, "0", 0))
	<-b.started
	for i := 1; i <= 40; i++ {
		p.Submit(context.Background(), request(event.Warn, strconv.Itoa(i), 0))
	}
	close(b.release)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	statuses := map[string]int{}
	for _, r := range e.results(t, 41) {
		statuses[r[FieldStatus]]++
	}
	if statuses["success"] != 41 {
		t.Errorf("statuses = %v, want 41 success", statuses)
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.keys != 41 || cc.pipelines > 5 {
		t.Errorf("%d keys claimed in %d round trips, want 41 in at most 5", cc.keys, cc.pipelines)
	}
}
