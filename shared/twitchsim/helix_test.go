package twitchsim

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// hxClock is a settable clock.
type hxClock struct {
	mu sync.Mutex
	t  time.Time
}

func newHxClock() *hxClock { return &hxClock{t: time.Unix(1_700_000_000, 0)} }

func (c *hxClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *hxClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// hxFakeChat records the chat side of actions and serves a fixed directory.
type hxFakeChat struct {
	mu       sync.Mutex
	clears   []ClearChatOptions
	msgs     []string // channel/msgID
	unbans   []string
	messages map[string]TruthRecord
	rooms    map[string]string
}

func (f *hxFakeChat) ClearChat(o ClearChatOptions) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clears = append(f.clears, o)
	return 1, nil
}

func (f *hxFakeChat) ClearMsg(channel, msgID string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, channel+"/"+msgID)
	return 1, nil
}

func (f *hxFakeChat) Unban(loginOrID string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.unbans = append(f.unbans, loginOrID)
	return true
}

func (f *hxFakeChat) LookupMessage(msgID string) (TruthRecord, bool) {
	r, ok := f.messages[msgID]
	return r, ok
}

func (f *hxFakeChat) ChannelByRoomID(roomID string) (string, bool) {
	c, ok := f.rooms[roomID]
	return c, ok
}

const (
	hxToken    = "tok-abc123"
	hxClientID = "client-xyz"
	hxBot      = "900"
	hxRoom     = "100"
	hxOtherMod = "901"
)

type hxEnv struct {
	h     *Helix
	srv   *httptest.Server
	clock *hxClock
	chat  *hxFakeChat
}

func newHxEnv(t *testing.T, mutate func(*HelixConfig)) *hxEnv {
	t.Helper()
	clock := newHxClock()
	chat := &hxFakeChat{
		messages: map[string]TruthRecord{
			"m-1":     {MsgID: "m-1", Channel: "simchan0", RoomID: hxRoom, UserID: "555", Login: "viewer5", Persona: "viewer", TmiSentTs: clock.Now().UnixMilli()},
			"m-bc":    {MsgID: "m-bc", Channel: "simchan0", RoomID: hxRoom, UserID: hxRoom, Login: "simchan0", Persona: "broadcaster", TmiSentTs: clock.Now().UnixMilli()},
			"m-mod":   {MsgID: "m-mod", Channel: "simchan0", RoomID: hxRoom, UserID: "777", Login: "mod7", Persona: "moderator", TmiSentTs: clock.Now().UnixMilli()},
			"m-old":   {MsgID: "m-old", Channel: "simchan0", RoomID: hxRoom, UserID: "555", Login: "viewer5", TmiSentTs: clock.Now().Add(-7 * time.Hour).UnixMilli()},
			"m-other": {MsgID: "m-other", Channel: "simchan1", RoomID: "101", UserID: "556", Login: "viewer6", TmiSentTs: clock.Now().UnixMilli()},
		},
		rooms: map[string]string{hxRoom: "simchan0", "101": "simchan1"},
	}
	cfg := DefaultHelixConfig()
	cfg.ClientID = hxClientID
	cfg.Tokens = map[string]string{hxToken: hxBot, "tok-other": hxOtherMod, "tok-outsider": "902"}
	cfg.Moderators = map[string][]string{hxRoom: {hxBot, hxOtherMod}, "101": {hxBot}}
	cfg.Now = clock.Now
	if mutate != nil {
		mutate(&cfg)
	}
	h, err := NewHelix(cfg, chat, chat)
	if err != nil {
		t.Fatalf("NewHelix() = %v", err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &hxEnv{h: h, srv: srv, clock: clock, chat: chat}
}

type hxResp struct {
	status    int
	message   string
	body      string
	limit     string
	remaining string
	reset     string
}

// do sends method path (relative to /helix) with the bot's credentials
// unless hdr overrides them.
func (e *hxEnv) do(t *testing.T, method, path, body string, hdr map[string]string) hxResp {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+"/helix"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+hxToken)
	req.Header.Set("Client-Id", hxClientID)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var eb hxError
	_ = json.Unmarshal(raw, &eb)
	return hxResp{
		status: resp.StatusCode, message: eb.Message, body: string(raw),
		limit: resp.Header.Get("Ratelimit-Limit"), remaining: resp.Header.Get("Ratelimit-Remaining"), reset: resp.Header.Get("Ratelimit-Reset"),
	}
}

const hxQ = "?broadcaster_id=" + hxRoom + "&moderator_id=" + hxBot

func hxTimeoutBody(user string, d int) string {
	return `{"data":{"user_id":"` + user + `","duration":` + strconv.Itoa(d) + `,"reason":"spam"}}`
}

func TestHelix_Validation(t *testing.T) {
	long := strings.Repeat("é", 501)
	tests := []struct {
		name         string
		method, path string
		body         string
		hdr          map[string]string
		wantStatus   int
		wantMessage  string
	}{
		{"no_token", "POST", "/moderation/bans" + hxQ, hxTimeoutBody("555", 60), map[string]string{"Authorization": ""}, 401, "Invalid OAuth token"},
		{"unknown_token", "POST", "/moderation/bans" + hxQ, hxTimeoutBody("555", 60), map[string]string{"Authorization": "Bearer nope"}, 401, "Invalid OAuth token"},
		{"no_client_id", "POST", "/moderation/bans" + hxQ, hxTimeoutBody("555", 60), map[string]string{"Client-Id": ""}, 401, "Client ID is missing"},
		{"wrong_client_id", "POST", "/moderation/bans" + hxQ, hxTimeoutBody("555", 60), map[string]string{"Client-Id": "other"}, 401, "Client ID and OAuth token do not match"},
		{"moderator_id_not_token_user", "POST", "/moderation/bans?broadcaster_id=100&moderator_id=901", hxTimeoutBody("555", 60), nil, 401, "The ID in moderator_id must match the user ID in the user access token."},
		{"not_a_moderator", "POST", "/moderation/bans?broadcaster_id=100&moderator_id=902", hxTimeoutBody("555", 60), map[string]string{"Authorization": "Bearer tok-outsider"}, 403, "The user in moderator_id is not one of the broadcaster's moderators."},
		{"missing_broadcaster", "POST", "/moderation/bans?moderator_id=900", hxTimeoutBody("555", 60), nil, 400, `Missing required parameter "broadcaster_id"`},
		{"missing_user", "POST", "/moderation/bans" + hxQ, `{"data":{"duration":60}}`, nil, 400, `Missing required parameter "user_id"`},
		{"bad_json", "POST", "/moderation/bans" + hxQ, `{"data":`, nil, 400, ""},
		{"duration_zero", "POST", "/moderation/bans" + hxQ, hxTimeoutBody("555", 0), nil, 400, "The value in the duration field is not valid."},
		{"duration_over_two_weeks", "POST", "/moderation/bans" + hxQ, hxTimeoutBody("555", 1_209_601), nil, 400, "The value in the duration field is not valid."},
		{"reason_too_long", "POST", "/moderation/bans" + hxQ, `{"data":{"user_id":"555","duration":60,"reason":"` + long + `"}}`, nil, 400, "The text in the reason field is too long."},
		{"ban_broadcaster", "POST", "/moderation/bans" + hxQ, hxTimeoutBody(hxRoom, 60), nil, 400, "The user specified in the user_id field may not be banned."},
		{"ban_moderator", "POST", "/moderation/bans" + hxQ, hxTimeoutBody(hxOtherMod, 60), nil, 400, "The user specified in the user_id field may not be banned."},
		{"unban_not_banned", "DELETE", "/moderation/bans" + hxQ + "&user_id=555", "", nil, 400, "user is not banned"},
		{"delete_unknown", "DELETE", "/moderation/chat" + hxQ + "&message_id=nope", "", nil, 404, "The ID in message_id was not found."},
		{"delete_too_old", "DELETE", "/moderation/chat" + hxQ + "&message_id=m-old", "", nil, 404, "The ID in message_id was not found."},
		{"delete_other_channel", "DELETE", "/moderation/chat" + hxQ + "&message_id=m-other", "", nil, 404, "The ID in message_id was not found."},
		{"delete_broadcaster_msg", "DELETE", "/moderation/chat" + hxQ + "&message_id=m-bc", "", nil, 400, "You may not delete the broadcaster's messages."},
		{"delete_moderator_msg", "DELETE", "/moderation/chat" + hxQ + "&message_id=m-mod", "", nil, 400, "You may not delete another moderator's messages."},
		{"warn_no_reason", "POST", "/moderation/warnings" + hxQ, `{"data":{"user_id":"555"}}`, nil, 400, `Missing required parameter "reason"`},
		{"warn_reason_too_long", "POST", "/moderation/warnings" + hxQ, `{"data":{"user_id":"555","reason":"` + long + `"}}`, nil, 400, "The text in the reason field is too long."},
		{"warn_broadcaster", "POST", "/moderation/warnings" + hxQ, `{"data":{"user_id":"100","reason":"x"}}`, nil, 400, "The user specified in the user_id may not be warned."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newHxEnv(t, nil)
			got := e.do(t, tt.method, tt.path, tt.body, tt.hdr)
			if got.status != tt.wantStatus || (tt.wantMessage != "" && got.message != tt.wantMessage) {
				t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, got.status, got.message, tt.wantStatus, tt.wantMessage)
			}
			if n := len(e.h.Actions()); n != 0 {
				t.Errorf("Actions() has %d entries after a refused request, want 0", n)
			}
		})
	}
}

func TestHelix_TimeoutBanUnban(t *testing.T) {
	e := newHxEnv(t, nil)
	r := e.do(t, "POST", "/moderation/bans"+hxQ, hxTimeoutBody("555", 600), nil)
	if r.status != 200 {
		t.Fatalf("timeout = %d %s, want 200", r.status, r.body)
	}
	var body struct {
		Data []struct {
			BroadcasterID string  `json:"broadcaster_id"`
			ModeratorID   string  `json:"moderator_id"`
			UserID        string  `json:"user_id"`
			EndTime       *string `json:"end_time"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || len(body.Data) != 1 {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	wantEnd := e.clock.Now().Add(600 * time.Second).UTC().Format(time.RFC3339)
	if d := body.Data[0]; d.BroadcasterID != hxRoom || d.ModeratorID != hxBot || d.UserID != "555" || d.EndTime == nil || *d.EndTime != wantEnd {
		t.Errorf("timeout response = %+v, want end_time %s", d, wantEnd)
	}
	if !e.h.Banned(hxRoom, "555") {
		t.Errorf("Banned after timeout = false, want true")
	}
	// A timeout can be replaced by a ban, but a ban cannot become a timeout.
	if r := e.do(t, "POST", "/moderation/bans"+hxQ, hxTimeoutBody("555", 60), nil); r.status != 200 {
		t.Errorf("second timeout = %d, want 200 (replaces the timeout)", r.status)
	}
	if r := e.do(t, "POST", "/moderation/bans"+hxQ, `{"data":{"user_id":"555"}}`, nil); r.status != 200 || !strings.Contains(r.body, `"end_time":null`) {
		t.Errorf("ban = %d %s, want 200 with end_time null", r.status, r.body)
	}
	for _, b := range []string{hxTimeoutBody("555", 60), `{"data":{"user_id":"555"}}`} {
		if r := e.do(t, "POST", "/moderation/bans"+hxQ, b, nil); r.status != 400 || r.message != "user is already banned" {
			t.Errorf("POST bans %s on a banned user = %d %q, want 400 \"user is already banned\"", b, r.status, r.message)
		}
	}
	if r := e.do(t, "DELETE", "/moderation/bans"+hxQ+"&user_id=555", "", nil); r.status != 204 {
		t.Errorf("unban = %d %s, want 204", r.status, r.body)
	}
	if e.h.Banned(hxRoom, "555") {
		t.Errorf("Banned after unban = true, want false")
	}
	// A timeout that ran out is not a ban any more.
	e.do(t, "POST", "/moderation/bans"+hxQ, hxTimeoutBody("556", 10), nil)
	e.clock.Advance(11 * time.Second)
	if r := e.do(t, "DELETE", "/moderation/bans"+hxQ+"&user_id=556", "", nil); r.status != 400 || r.message != "user is not banned" {
		t.Errorf("unban after expiry = %d %q, want 400 \"user is not banned\"", r.status, r.message)
	}

	var kinds []string
	for _, a := range e.h.Actions() {
		kinds = append(kinds, string(a.Kind)+":"+a.UserID)
	}
	if got, want := strings.Join(kinds, ","), "timeout:555,timeout:555,ban:555,unban:555,timeout:556"; got != want {
		t.Errorf("Actions() = %s, want %s", got, want)
	}
	e.chat.mu.Lock()
	defer e.chat.mu.Unlock()
	if len(e.chat.clears) != 4 || e.chat.clears[0] != (ClearChatOptions{Channel: "simchan0", UserID: "555", Duration: 600 * time.Second}) ||
		e.chat.clears[2] != (ClearChatOptions{Channel: "simchan0", UserID: "555"}) {
		t.Errorf("ClearChat calls = %+v, want timeout 600s, timeout 60s, ban, timeout 10s in simchan0", e.chat.clears)
	}
	if len(e.chat.unbans) != 1 || e.chat.unbans[0] != "555" {
		t.Errorf("Unban calls = %v, want [555]", e.chat.unbans)
	}
}

func TestHelix_DeleteAndWarn(t *testing.T) {
	e := newHxEnv(t, nil)
	if r := e.do(t, "DELETE", "/moderation/chat"+hxQ+"&message_id=m-1", "", nil); r.status != 204 {
		t.Fatalf("delete = %d %s, want 204", r.status, r.body)
	}
	if r := e.do(t, "DELETE", "/moderation/chat"+hxQ+"&message_id=m-1", "", nil); r.status != 404 {
		t.Errorf("second delete = %d, want 404", r.status)
	}
	if r := e.do(t, "POST", "/moderation/warnings"+hxQ, `{"data":{"user_id":"555","reason":"be nice"}}`, nil); r.status != 200 || !strings.Contains(r.body, `"reason":"be nice"`) {
		t.Errorf("warn = %d %s, want 200 echoing the reason", r.status, r.body)
	}
	if st := e.h.Stats(); st.ChatClears != 0 {
		t.Errorf("ChatClears = %d before a delete without message_id, want 0", st.ChatClears)
	}
	// Without message_id Twitch clears the whole chat; so does the simulation.
	if r := e.do(t, "DELETE", "/moderation/chat"+hxQ, "", nil); r.status != 204 {
		t.Errorf("delete without message_id = %d, want 204 (chat cleared)", r.status)
	}
	if st := e.h.Stats(); st.ChatClears != 1 || st.Accepted != 3 {
		t.Errorf("Stats() = %+v, want ChatClears 1, Accepted 3", st)
	}
	e.chat.mu.Lock()
	defer e.chat.mu.Unlock()
	if len(e.chat.msgs) != 1 || e.chat.msgs[0] != "simchan0/m-1" {
		t.Errorf("ClearMsg calls = %v, want [simchan0/m-1]", e.chat.msgs)
	}
	if len(e.chat.clears) != 1 || e.chat.clears[0] != (ClearChatOptions{Channel: "simchan0"}) {
		t.Errorf("ClearChat calls = %+v, want one whole-chat clear", e.chat.clears)
	}
}

func TestHelix_RateLimitHeaders(t *testing.T) {
	e := newHxEnv(t, func(c *HelixConfig) { c.PointsPerMinute = 3 })
	now := e.clock.Now().Unix()
	for i, want := range []string{"2", "1", "0"} {
		r := e.do(t, "POST", "/moderation/warnings"+hxQ, `{"data":{"user_id":"555","reason":"x"}}`, nil)
		if r.status != 200 || r.limit != "3" || r.remaining != want {
			t.Errorf("request %d = %d limit %s remaining %s, want 200 limit 3 remaining %s", i, r.status, r.limit, r.remaining, want)
		}
	}
	r := e.do(t, "POST", "/moderation/warnings"+hxQ, `{"data":{"user_id":"555","reason":"x"}}`, nil)
	// Empty bucket: full again after one minute.
	if r.status != 429 || r.remaining != "0" || r.reset != strconv.FormatInt(now+60, 10) {
		t.Errorf("4th request = %d remaining %s reset %s, want 429 remaining 0 reset %d", r.status, r.remaining, r.reset, now+60)
	}
	e.clock.Advance(20 * time.Second) // one point back
	if r := e.do(t, "POST", "/moderation/warnings"+hxQ, `{"data":{"user_id":"555","reason":"x"}}`, nil); r.status != 200 || r.remaining != "0" {
		t.Errorf("after 20s = %d remaining %s, want 200 remaining 0", r.status, r.remaining)
	}
	if st := e.h.Stats(); st.RateLimited != 1 || st.Accepted != 4 {
		t.Errorf("Stats() = %+v, want RateLimited 1 and Accepted 4", st)
	}
}

func TestHelix_ChannelBanLimit(t *testing.T) {
	e := newHxEnv(t, func(c *HelixConfig) { c.ChannelBanLimit, c.ChannelBanWindow = 2, 30*time.Second })
	for i, want := range []int{200, 200, 429} {
		if r := e.do(t, "POST", "/moderation/bans"+hxQ, hxTimeoutBody(strconv.Itoa(600+i), 60), nil); r.status != want {
			t.Errorf("ban %d = %d, want %d", i, r.status, want)
		}
	}
	e.clock.Advance(30 * time.Second)
	if r := e.do(t, "POST", "/moderation/bans"+hxQ, hxTimeoutBody("610", 60), nil); r.status != 200 {
		t.Errorf("ban after the window = %d, want 200", r.status)
	}
	if st := e.h.Stats(); st.ChannelLimited != 1 {
		t.Errorf("ChannelLimited = %d, want 1", st.ChannelLimited)
	}
}

func TestHelix_Faults(t *testing.T) {
	e := newHxEnv(t, nil)
	resp, err := http.Post(e.srv.URL+"/control/helix-faults?status=429&count=2", "", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST helix-faults = %v %v", resp, err)
	}
	resp.Body.Close()
	wantReset := strconv.FormatInt(e.clock.Now().Add(DefaultHelixFaultReset).Unix(), 10)
	for i := range 2 {
		r := e.do(t, "POST", "/moderation/bans"+hxQ, hxTimeoutBody("555", 60), nil)
		if r.status != 429 || r.remaining != "0" || r.reset != wantReset {
			t.Errorf("faulted request %d = %d remaining %s reset %s, want 429 remaining 0 reset %s", i, r.status, r.remaining, r.reset, wantReset)
		}
	}
	if r := e.do(t, "POST", "/moderation/bans"+hxQ, hxTimeoutBody("555", 60), nil); r.status != 200 {
		t.Errorf("request after the faults = %d, want 200", r.status)
	}
	if n := len(e.h.Actions()); n != 1 {
		t.Errorf("Actions() = %d entries, want 1 (faulted requests never act)", n)
	}
	for _, bad := range []string{"?status=404&count=1", "?status=503&share=2", "?status=x"} {
		resp, err := http.Post(e.srv.URL+"/control/helix-faults"+bad, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("POST helix-faults%s = %d, want 400", bad, resp.StatusCode)
		}
	}
}

// TestHelix_FaultShareDeterministic checks that a share of faults hits the
// same requests for the same seed.
func TestHelix_FaultShareDeterministic(t *testing.T) {
	run := func(seed uint64) string {
		e := newHxEnv(t, func(c *HelixConfig) { c.Seed = seed })
		if err := e.h.SetFaults(HelixFaults{Status: 503, Share: 0.3}); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for range 40 {
			r := e.do(t, "POST", "/moderation/warnings"+hxQ, `{"data":{"user_id":"555","reason":"x"}}`, nil)
			b.WriteString(strconv.Itoa(r.status / 100))
		}
		return b.String()
	}
	a, b, c := run(7), run(7), run(8)
	if a != b {
		t.Errorf("seed 7 gave %s then %s, want the same", a, b)
	}
	if a == c {
		t.Errorf("seeds 7 and 8 both gave %s, want different sequences", a)
	}
	if n := strings.Count(a, "5"); n < 4 || n > 24 {
		t.Errorf("%d of 40 requests faulted with share 0.3, want roughly 12", n)
	}
}

// TestHelix_EchoIntoRealChat checks the chat side against a real Server: a
// client joined to the channel sees CLEARCHAT and CLEARMSG shaped like
// Twitch's.
func TestHelix_EchoIntoRealChat(t *testing.T) {
	cfg := DefaultConfig()
	cfg.WSAddr, cfg.ControlAddr, cfg.TCPAddr = "", "", "127.0.0.1:0"
	cfg.Channels, cfg.Rate, cfg.Count, cfg.WaitForJoin = 1, 200, 20, true
	cfg.Weights = Weights{Viewer: 1}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	nc, err := net.Dial("tcp", srv.TCPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	_, _ = io.WriteString(nc, "CAP REQ :twitch.tv/tags twitch.tv/commands\r\nNICK justinfan4242\r\nJOIN #simchan0\r\n")
	rd := bufio.NewReader(nc)
	readUntil := func(substr string) string {
		t.Helper()
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("read until %q: %v", substr, err)
			}
			if strings.Contains(line, substr) {
				return strings.TrimRight(line, "\r\n")
			}
		}
	}
	priv := readUntil(" PRIVMSG #simchan0 :")
	tags := map[string]string{}
	for _, kv := range strings.Split(strings.TrimPrefix(strings.SplitN(priv, " ", 2)[0], "@"), ";") {
		k, v, _ := strings.Cut(kv, "=")
		tags[k] = v
	}
	msgID, userID, room := tags["id"], tags["user-id"], tags["room-id"]

	hcfg := DefaultHelixConfig()
	hcfg.ClientID, hcfg.Tokens = hxClientID, map[string]string{hxToken: hxBot}
	h, err := NewHelix(hcfg, srv, srv)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	defer hs.Close()
	e := &hxEnv{h: h, srv: hs}
	q := "?broadcaster_id=" + room + "&moderator_id=" + hxBot

	if r := e.do(t, "DELETE", "/moderation/chat"+q+"&message_id="+msgID, "", nil); r.status != 204 {
		t.Fatalf("delete %s = %d %s, want 204", msgID, r.status, r.body)
	}
	clearMsg := readUntil(" CLEARMSG ")
	if want := ";room-id=;target-msg-id=" + msgID + ";tmi-sent-ts="; !strings.HasPrefix(clearMsg, "@login=") || !strings.Contains(clearMsg, want) || !strings.Contains(clearMsg, " :tmi.twitch.tv CLEARMSG #simchan0 :") {
		t.Errorf("CLEARMSG line = %q, want @login=...%s... :tmi.twitch.tv CLEARMSG #simchan0 :<text>", clearMsg, want)
	}
	if r := e.do(t, "POST", "/moderation/bans"+q, hxTimeoutBody(userID, 600), nil); r.status != 200 {
		t.Fatalf("timeout %s = %d %s, want 200", userID, r.status, r.body)
	}
	clearChat := readUntil(" CLEARCHAT ")
	if want := "@ban-duration=600;room-id=" + room + ";target-user-id=" + userID + ";tmi-sent-ts="; !strings.HasPrefix(clearChat, want) || !strings.Contains(clearChat, " :tmi.twitch.tv CLEARCHAT #simchan0 :") {
		t.Errorf("CLEARCHAT line = %q, want prefix %q and ' :tmi.twitch.tv CLEARCHAT #simchan0 :<login>'", clearChat, want)
	}
}
