package twitchsim

import (
	"bufio"
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

var (
	uuidV4Re = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	nonceRe  = regexp.MustCompile(`^[0-9a-f]{32}$`)
	colorRe  = regexp.MustCompile(`^(#[0-9A-F]{6})?$`)
	badgesRe = regexp.MustCompile(`^([a-z0-9_-]+/[0-9]+(,[a-z0-9_-]+/[0-9]+)*)?$`)
	emotesRe = regexp.MustCompile(`^([A-Za-z0-9_]+:[0-9]+-[0-9]+(,[0-9]+-[0-9]+)*(/[A-Za-z0-9_]+:[0-9]+-[0-9]+(,[0-9]+-[0-9]+)*)*)?$`)
)

// Emote ids seen in real Twitch lines (testdata/real_lines.txt).
var realEmoteIDs = map[string]string{
	"Kappa": "25", "Keepo": "1902", "LUL": "425618", "TriHard": "120232", "HeyGuys": "30259",
	"<3": "483", "BibleThump": "86", "ResidentSleeper": "245", "pajaM_TK": "300196486_TK",
}

var requiredPrivmsgTags = []string{
	"badge-info", "badges", "color", "display-name", "emotes", "first-msg", "flags", "id", "mod",
	"returning-chatter", "room-id", "subscriber", "tmi-sent-ts", "turbo", "user-id", "user-type",
}

var optionalPrivmsgTags = []string{
	"client-nonce", "emote-only", "vip", "reply-parent-display-name", "reply-parent-msg-body",
	"reply-parent-msg-id", "reply-parent-user-id", "reply-parent-user-login", "reply-thread-parent-display-name",
	"reply-thread-parent-msg-id", "reply-thread-parent-user-id", "reply-thread-parent-user-login",
}

func testGenerator(t testing.TB, mutate func(*Config)) (*generator, Config) {
	t.Helper()
	cfg := DefaultConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	return newGenerator(&cfg), cfg
}

// bodyText strips the CTCP ACTION framing.
func bodyText(trailing string) (string, bool) {
	if strings.HasPrefix(trailing, "\x01ACTION ") && strings.HasSuffix(trailing, "\x01") {
		return trailing[len("\x01ACTION ") : len(trailing)-1], true
	}
	return trailing, false
}

// checkPrivmsg validates one generated PRIVMSG line and returns its parse.
func checkPrivmsg(t *testing.T, line string, cfg Config, wantTs int64) ircMsg {
	t.Helper()
	if !strings.HasSuffix(line, "\r\n") || strings.ContainsAny(line[:len(line)-2], "\r\n") {
		t.Fatalf("line must end in exactly one CRLF: %q", line)
	}
	m := parseIRC(line[:len(line)-2])
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s\n  line: %q", strings.TrimSpace(sprintf(format, args...)), line)
	}
	if m.command != "PRIVMSG" || len(m.params) != 2 {
		fail("command %q params %d, want PRIVMSG with 2 params", m.command, len(m.params))
		return m
	}
	if !slices.IsSorted(m.tagKeys) {
		fail("tag keys not sorted: %v", m.tagKeys)
	}
	for _, k := range requiredPrivmsgTags {
		if _, ok := m.tags[k]; !ok {
			fail("missing tag %q", k)
		}
	}
	for _, k := range m.tagKeys {
		if !slices.Contains(requiredPrivmsgTags, k) && !slices.Contains(optionalPrivmsgTags, k) {
			fail("unexpected tag %q", k)
		}
	}
	tg := m.tags
	if !uuidV4Re.MatchString(tg["id"]) {
		fail("id %q is not a UUID v4", tg["id"])
	}
	if n, ok := tg["client-nonce"]; ok && !nonceRe.MatchString(n) {
		fail("client-nonce %q", n)
	}
	if !colorRe.MatchString(tg["color"]) {
		fail("color %q", tg["color"])
	}
	if !badgesRe.MatchString(tg["badges"]) || !badgesRe.MatchString(tg["badge-info"]) {
		fail("badges %q badge-info %q", tg["badges"], tg["badge-info"])
	}
	for _, k := range []string{"first-msg", "mod", "returning-chatter", "subscriber", "turbo"} {
		if v := tg[k]; v != "0" && v != "1" {
			fail("%s = %q, want 0 or 1", k, v)
		}
	}
	badges := strings.Split(tg["badges"], ",")
	if v, ok := tg["vip"]; ok && (v != "1" || !slices.Contains(badges, "vip/1")) {
		fail("vip=%q with badges %q", v, tg["badges"])
	}
	if slices.Contains(badges, "vip/1") && tg["vip"] != "1" {
		fail("vip badge without vip=1")
	}
	isMod := slices.Contains(badges, "moderator/1")
	if (tg["mod"] == "1") != isMod || (tg["user-type"] == "mod") != isMod {
		fail("mod=%s user-type=%q badges=%q", tg["mod"], tg["user-type"], tg["badges"])
	}
	isSub := strings.HasPrefix(tg["badge-info"], "subscriber/") || strings.HasPrefix(tg["badge-info"], "founder/")
	if (tg["subscriber"] == "1") != isSub {
		fail("subscriber=%s badge-info=%q", tg["subscriber"], tg["badge-info"])
	}
	if (tg["turbo"] == "1") != slices.Contains(badges, "turbo/1") {
		fail("turbo=%s badges=%q", tg["turbo"], tg["badges"])
	}
	ch := strings.TrimPrefix(m.params[0], "#")
	idx, err := strconv.Atoi(strings.TrimPrefix(ch, "simchan"))
	if err != nil || idx < 0 || idx >= cfg.Channels {
		fail("channel %q", m.params[0])
	}
	equal(t, "room-id", tg["room-id"], strconv.FormatInt(cfg.RoomIDBase+int64(idx), 10))
	if (tg["user-id"] == tg["room-id"]) != slices.Contains(badges, "broadcaster/1") {
		fail("user-id %s room-id %s badges %q", tg["user-id"], tg["room-id"], tg["badges"])
	}
	equal(t, "tmi-sent-ts", tg["tmi-sent-ts"], strconv.FormatInt(wantTs, 10))
	login, _, _ := strings.Cut(m.prefix, "!")
	if m.prefix != login+"!"+login+"@"+login+".tmi.twitch.tv" || login != strings.ToLower(login) {
		fail("prefix %q", m.prefix)
	}
	if dn := tg["display-name"]; dn == "" || (isASCII(dn) && strings.ToLower(dn) != login) {
		fail("display-name %q for login %q", dn, login)
	}

	text, _ := bodyText(m.trailing())
	if !utf8.ValidString(text) || text == "" {
		fail("text %q", text)
	}
	if pid, ok := tg["reply-parent-msg-id"]; ok {
		for _, k := range optionalPrivmsgTags[3:] {
			if _, ok := tg[k]; !ok {
				fail("reply without %q", k)
			}
		}
		if !uuidV4Re.MatchString(pid) || !uuidV4Re.MatchString(tg["reply-thread-parent-msg-id"]) {
			fail("reply ids %q %q", pid, tg["reply-thread-parent-msg-id"])
		}
		if !strings.HasPrefix(text, "@"+tg["reply-parent-display-name"]+" ") {
			fail("reply text %q does not start with @%s", text, tg["reply-parent-display-name"])
		}
	}
	runes := []rune(text)
	checkEmotes(t, tg["emotes"], runes, line)
	covered := map[int]bool{}
	for _, g := range splitNonEmpty(tg["emotes"], "/") {
		_, ranges, _ := strings.Cut(g, ":")
		for _, r := range strings.Split(ranges, ",") {
			s, _, _ := strings.Cut(r, "-")
			n, _ := strconv.Atoi(s)
			covered[n] = true
		}
	}
	pos := 0
	allEmotes := true
	tokens := 0
	for _, tok := range strings.Split(text, " ") {
		if _, isEmote := emoteIDs[tok]; isEmote && !covered[pos] {
			fail("emote token %q at %d not in emotes tag %q", tok, pos, tg["emotes"])
		}
		if tok != "" {
			tokens++
			if _, isEmote := emoteIDs[tok]; !isEmote {
				allEmotes = false
			}
		}
		pos += utf8.RuneCountInString(tok) + 1
	}
	if _, ok := tg["emote-only"]; ok != (allEmotes && tokens > 0) {
		fail("emote-only present=%v but all tokens emotes=%v", ok, allEmotes)
	}
	for _, f := range splitNonEmpty(tg["flags"], ",") {
		r, label, _ := strings.Cut(f, ":")
		s, e, _ := strings.Cut(r, "-")
		si, _ := strconv.Atoi(s)
		ei, _ := strconv.Atoi(e)
		if label == "" || si < 0 || ei >= len(runes) || si > ei {
			fail("flags %q out of range", f)
			continue
		}
		if term := string(runes[si : ei+1]); !slices.Contains(BlockedTerms(), term) {
			fail("flag range %q covers %q, not a blocked term", f, term)
		}
	}
	return m
}

func sprintf(format string, args ...any) string {
	return strings.TrimSpace(fmtSprintf(format, args...))
}

func splitNonEmpty(s, sep string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, sep)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// checkEmotes verifies that every range is inside the text (code points)
// and covers an emote whose id matches.
func checkEmotes(t *testing.T, tag string, runes []rune, line string) {
	t.Helper()
	if !emotesRe.MatchString(tag) {
		t.Errorf("emotes %q malformed\n  line: %q", tag, line)
		return
	}
	for _, g := range splitNonEmpty(tag, "/") {
		id, ranges, _ := strings.Cut(g, ":")
		for _, r := range strings.Split(ranges, ",") {
			s, e, _ := strings.Cut(r, "-")
			si, _ := strconv.Atoi(s)
			ei, _ := strconv.Atoi(e)
			if si > ei || ei >= len(runes) {
				t.Errorf("emote range %s-%s outside %d code points\n  line: %q", s, e, len(runes), line)
				continue
			}
			name := string(runes[si : ei+1])
			if emoteIDs[name] != id {
				t.Errorf("emote range %d-%d covers %q (id %q), tag says id %q\n  line: %q", si, ei, name, emoteIDs[name], id, line)
			}
			if want, ok := realEmoteIDs[name]; ok && want != id {
				t.Errorf("emote %q has id %q, real Twitch id is %q", name, id, want)
			}
			if si > 0 && runes[si-1] != ' ' || ei+1 < len(runes) && runes[ei+1] != ' ' {
				t.Errorf("emote range %d-%d is not a whole token\n  line: %q", si, ei, line)
			}
		}
	}
}

func TestGenerator_LineShape(t *testing.T) {
	g, cfg := testGenerator(t, nil)
	var (
		m    msgMeta
		buf  []byte
		seen = map[string]int{}
	)
	const n = 30000
	for i := range n {
		ts := 1700000000000 + int64(i)
		var raid *raidState
		if i%10 == 0 {
			raid = &raidState{ch: 2, poolOff: 100, viewers: 300}
		}
		buf = g.next(buf[:0], ts, raid, &m)
		msg := checkPrivmsg(t, string(buf), cfg, ts)
		if t.Failed() {
			t.FailNow()
		}
		text, action := bodyText(msg.trailing())
		seen["persona:"+m.persona.String()]++
		seen["category:"+m.tmpl.cat.String()]++
		seen["obfuscation:"+m.tmpl.obf.String()]++
		for k := range msg.tags {
			seen["tag:"+k]++
		}
		if action {
			seen["action"]++
		}
		if !isASCII(text) {
			seen["non-ascii"]++
		}
		if msg.tags["first-msg"] == "1" {
			seen["first-msg"]++
		}
		if strings.Contains(msg.tags["badges"], "broadcaster/1") {
			seen["broadcaster-badge"]++
		}
		if strings.ContainsAny(text, "\u200b\u200c\u200d\u2060") {
			seen["zero-width"]++
		}
		if (m.tmpl.cat == CategoryAbuse) != m.tmpl.abusive {
			t.Errorf("abusive=%v for category %s", m.tmpl.abusive, m.tmpl.cat)
		}
		if m.raid != (raid != nil) || (raid != nil && m.persona != PersonaRaider) {
			t.Errorf("raid message: raid=%v persona=%s", m.raid, m.persona)
		}
	}
	var want []string
	for p := Persona(0); p < numPersonas; p++ {
		want = append(want, "persona:"+p.String())
	}
	for c := Category(0); c < numCategories; c++ {
		want = append(want, "category:"+c.String())
	}
	for o := Obfuscation(0); o < numObfuscations; o++ {
		want = append(want, "obfuscation:"+o.String())
	}
	for _, k := range optionalPrivmsgTags {
		want = append(want, "tag:"+k)
	}
	want = append(want, "action", "non-ascii", "first-msg", "broadcaster-badge", "zero-width")
	for _, k := range want {
		if seen[k] == 0 {
			t.Errorf("%d messages contain no %s", n, k)
		}
	}
	// The persona mix follows the weights (viewer 55 of 100 in steady chat).
	if got := float64(seen["persona:viewer"]) / (n * 0.9); got < 0.50 || got > 0.60 {
		t.Errorf("viewer share = %.3f, want about 0.55", got)
	}
}

// TestGenerator_TagKeysSeenOnTwitch checks that every tag key the generator
// emits occurs in real Twitch PRIVMSG lines.
func TestGenerator_TagKeysSeenOnTwitch(t *testing.T) {
	f, err := os.Open("testdata/real_lines.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	real := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		m := parseIRC(sc.Text())
		if m.command == "PRIVMSG" {
			for k := range m.tags {
				real[k] = true
			}
		}
	}
	if len(real) < 20 {
		t.Fatalf("read only %d real tag keys", len(real))
	}
	for _, k := range append(slices.Clone(requiredPrivmsgTags), optionalPrivmsgTags...) {
		if !real[k] {
			t.Errorf("tag %q never appears in real PRIVMSG lines", k)
		}
	}
}

func TestGenerator_Deterministic(t *testing.T) {
	gen := func(seed uint64) []string {
		g, _ := testGenerator(t, func(c *Config) { c.Seed = seed })
		var m msgMeta
		var out []string
		for i := range 2000 {
			out = append(out, string(g.next(nil, int64(i), nil, &m)))
		}
		return out
	}
	a, b, c := gen(7), gen(7), gen(8)
	if !slices.Equal(a, b) {
		t.Error("same seed produced different sequences")
	}
	same := 0
	for i := range a {
		if a[i] == c[i] {
			same++
		}
	}
	if same > 0 {
		t.Errorf("seeds 7 and 8 produced %d identical lines", same)
	}
}

func TestGenerator_NextAllocs(t *testing.T) {
	g, _ := testGenerator(t, nil)
	var m msgMeta
	buf := make([]byte, 0, 16<<10)
	tbuf := make([]byte, 0, 16<<10)
	allocs := testing.AllocsPerRun(5000, func() {
		buf = g.next(buf[:0], 1700000000000, nil, &m)
		tbuf = g.appendTruth(tbuf[:0], &m)
	})
	if allocs != 0 {
		t.Errorf("next+appendTruth allocs = %v, want 0", allocs)
	}
}

func TestGenerator_TruthRoundTrip(t *testing.T) {
	g, _ := testGenerator(t, nil)
	var m msgMeta
	for i := range 3000 {
		line := g.next(nil, int64(i), nil, &m)
		js := g.appendTruth(nil, &m)
		var got TruthRecord
		if err := json.Unmarshal(js, &got); err != nil {
			t.Fatalf("Unmarshal(%q) = %v", js, err)
		}
		want := g.record(&m)
		if got != want {
			t.Fatalf("truth line decodes to %+v, want %+v", got, want)
		}
		msg := parseIRC(strings.TrimSuffix(string(line), "\r\n"))
		text, action := bodyText(msg.trailing())
		equal(t, "truth text", got.Text, text)
		equal(t, "truth action", got.Action, action)
		equal(t, "truth msg_id", got.MsgID, msg.tags["id"])
		equal(t, "truth user_id", got.UserID, msg.tags["user-id"])
		equal(t, "truth room_id", got.RoomID, msg.tags["room-id"])
		equal(t, "truth channel", "#"+got.Channel, msg.params[0])
	}
}

func TestObfuscate(t *testing.T) {
	g, _ := testGenerator(t, nil)
	strip := func(s string, drop func(rune) bool) string {
		return strings.Map(func(r rune) rune {
			if drop(r) {
				return -1
			}
			return r
		}, s)
	}
	for _, term := range BlockedTerms() {
		for o := ObfuscationLeet; o < numObfuscations; o++ {
			got := obfuscate(g.rng, term, o)
			if got == term {
				t.Errorf("obfuscate(%q, %s) left it unchanged", term, o)
			}
			switch o {
			case ObfuscationZeroWidth:
				equal(t, "zero-width stripped", strip(got, func(r rune) bool { return strings.ContainsRune("\u200b\u200c\u200d\u2060", r) }), term)
			case ObfuscationZalgo:
				equal(t, "zalgo stripped", strip(got, func(r rune) bool { return unicode.Is(unicode.Mn, r) }), term)
			case ObfuscationSpaced:
				equal(t, "spaced stripped", strings.ReplaceAll(got, " ", ""), strings.ReplaceAll(term, " ", ""))
			case ObfuscationLeet, ObfuscationConfusable:
				equal(t, "length in code points", utf8.RuneCountInString(got), utf8.RuneCountInString(term))
			}
		}
	}
}

func TestParseWeights(t *testing.T) {
	base := DefaultWeights()
	got, err := ParseWeights(base, "abusive=10, viewer=0")
	if err != nil {
		t.Fatalf("ParseWeights = %v", err)
	}
	equal(t, "Abusive", got.Abusive, 10.0)
	equal(t, "Viewer", got.Viewer, 0.0)
	equal(t, "Subscriber", got.Subscriber, base.Subscriber)
	for _, bad := range []string{"nobody=1", "abusive", "abusive=x", "raider=5"} {
		if _, err := ParseWeights(base, bad); err == nil {
			t.Errorf("ParseWeights(%q) = nil error, want error", bad)
		}
	}
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		field  string
	}{
		{"default", func(*Config) {}, ""},
		{"no_channels", func(c *Config) { c.Channels = 0 }, "Channels"},
		{"negative_rate", func(c *Config) { c.Rate = -1 }, "Rate"},
		{"tiny_tick", func(c *Config) { c.Tick = 0 }, "Tick"},
		{"bad_scenario", func(c *Config) { c.Scenario = "chaos" }, "Scenario"},
		{"zero_weights", func(c *Config) { c.Weights = Weights{} }, "Weights"},
		{"token_prefix", func(c *Config) { c.Tokens = []string{"oauth:abc"} }, "Tokens"},
		{"small_queue", func(c *Config) { c.QueueBytes = 100 }, "QueueBytes"},
		{"helix_and_moderators", func(c *Config) {
			h, m := DevHelixConfig(), DefaultModeratorsConfig()
			c.Helix, c.Moderators = &h, &m
		}, ""},
		{"moderators_without_helix", func(c *Config) { m := DefaultModeratorsConfig(); c.Moderators = &m }, "Moderators"},
		{"helix_without_client_id", func(c *Config) { h := DevHelixConfig(); h.ClientID = ""; c.Helix = &h }, "HelixConfig"},
		{"helix_empty_user_id", func(c *Config) { h := DevHelixConfig(); h.Tokens = map[string]string{"t": ""}; c.Helix = &h }, "HelixConfig.Tokens"},
		{"helix_points", func(c *Config) { h := DevHelixConfig(); h.PointsPerMinute = 0; c.Helix = &h }, "PointsPerMinute"},
		{"moderator_share", func(c *Config) {
			h, m := DevHelixConfig(), DefaultModeratorsConfig()
			m.MissShare = 2
			c.Helix, c.Moderators = &h, &m
		}, "ModeratorsConfig"},
		{"negative_moderator_tick", func(c *Config) { c.ModeratorTick = -1 }, "ModeratorTick"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.mutate(&cfg)
			err := cfg.Validate()
			if tt.field == "" {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("Validate() = %v, want an error naming %s", err, tt.field)
			}
		})
	}
}

func BenchmarkGenerator_Next(b *testing.B) {
	for _, truth := range []bool{false, true} {
		b.Run("truth="+strconv.FormatBool(truth), func(b *testing.B) {
			g, _ := testGenerator(b, nil)
			var m msgMeta
			buf := make([]byte, 0, 16<<10)
			tbuf := make([]byte, 0, 16<<10)
			total := 0
			b.ReportAllocs()
			for b.Loop() {
				buf = g.next(buf[:0], 1700000000000, nil, &m)
				total += len(buf)
				if truth {
					tbuf = g.appendTruth(tbuf[:0], &m)
				}
			}
			b.SetBytes(int64(total / max(b.N, 1)))
		})
	}
}
