package twitchsim

import (
	"math"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"unicode/utf8"
)

const recentPerChannel = 8

// parentRef is a recent message of a channel that later messages may reply to.
type parentRef struct {
	id         [36]byte
	threadID   [36]byte
	user       int32
	threadUser int32
	prefixUser int32 // -1: the text has no "@Name " reply prefix
	tmpl       *template
}

// simChannel is the generator's per-channel state.
type simChannel struct {
	name      string // without '#'
	roomID    string
	recent    [recentPerChannel]parentRef
	recentN   int
	recentPos int
	pasta     int32
	pastaLeft int32
	swarm     int32
	swarmLeft int32
}

// msgMeta describes one generated PRIVMSG (truth, lookup and accounting).
type msgMeta struct {
	id         [36]byte
	ts         int64
	tmpl       *template
	ch         int32
	user       int32
	prefixUser int32
	tagLen     int32 // bytes of "@tags " at the start of the line
	persona    Persona
	action     bool
	firstMsg   bool
	reply      bool
	raid       bool
}

// raidState is an active raid burst.
type raidState struct {
	ch      int32
	poolOff int32
	viewers int32
}

// generator produces PRIVMSG lines. It is owned by one goroutine; only
// muted is shared (atomics).
type generator struct {
	rng      *rand.Rand
	pop      *population
	corpus   *corpus
	channels []simChannel
	cum      [PersonaRaider]float64
	total    float64
	reply    float64
	action   float64
	hostile  float64
	muted    []atomic.Int64 // per user: unix ms until which the user cannot chat
	raidOff  int32
}

func channelName(i int) string { return "simchan" + strconv.Itoa(i) }

func newGenerator(cfg *Config) *generator {
	// Separate streams: world building must not shift the message sequence.
	world := rand.New(rand.NewPCG(cfg.Seed, 0x9e3779b97f4a7c15))
	g := &generator{
		rng:     rand.New(rand.NewPCG(cfg.Seed, 0x2545f4914f6cdd1d)),
		reply:   cfg.ReplyFraction,
		action:  cfg.ActionFraction,
		hostile: cfg.RaidHostileFraction,
	}
	g.pop = newPopulation(world, cfg.Channels, cfg.RoomIDBase, channelName)
	g.corpus = buildCorpus(world, g.pop.displayNames(64))
	g.muted = make([]atomic.Int64, len(g.pop.users))
	g.channels = make([]simChannel, cfg.Channels)
	for i := range g.channels {
		g.channels[i] = simChannel{name: channelName(i), roomID: strconv.FormatInt(cfg.RoomIDBase+int64(i), 10)}
	}
	for p := Persona(0); p < PersonaRaider; p++ {
		g.total += *cfg.Weights.field(p)
		g.cum[p] = g.total
	}
	return g
}

func (g *generator) chance(p float64) bool { return p > 0 && g.rng.Float64() < p }

func (g *generator) pickPersona() Persona {
	r := g.rng.Float64() * g.total
	for p := Persona(0); p < PersonaRaider; p++ {
		if r < g.cum[p] {
			return p
		}
	}
	return PersonaViewer
}

func (g *generator) pickUserOnce(p Persona, ch int32, raid *raidState) int32 {
	pl := g.pop.pools[p]
	switch p {
	case PersonaModerator:
		return pl.start + ch*modsPerChannel + g.rng.Int32N(modsPerChannel)
	case PersonaVIP:
		return pl.start + ch*vipsPerChannel + g.rng.Int32N(vipsPerChannel)
	case PersonaBroadcaster:
		return pl.start + ch
	case PersonaRaider:
		return pl.start + (raid.poolOff+g.rng.Int32N(raid.viewers))%pl.n
	}
	return pl.start + g.rng.Int32N(pl.n)
}

// pickUser returns a user of persona p who is not timed out or banned,
// falling back to a viewer when the persona's users are all muted.
func (g *generator) pickUser(p Persona, ch int32, raid *raidState, nowMs int64) (int32, Persona) {
	for range 4 {
		u := g.pickUserOnce(p, ch, raid)
		if g.muted[u].Load() <= nowMs {
			return u, p
		}
	}
	for range 8 {
		u := g.pickUserOnce(PersonaViewer, ch, raid)
		if g.muted[u].Load() <= nowMs {
			return u, PersonaViewer
		}
	}
	return g.pickUserOnce(PersonaViewer, ch, raid), PersonaViewer
}

func (g *generator) pickTemplate(p Persona, c *simChannel) *template {
	cp := g.corpus
	switch p {
	case PersonaSpammer:
		return &cp.spam[g.rng.IntN(len(cp.spam))]
	case PersonaLinkDropper:
		if g.rng.IntN(2) == 0 {
			return &cp.linkOK[g.rng.IntN(len(cp.linkOK))]
		}
		return &cp.linkBad[g.rng.IntN(len(cp.linkBad))]
	case PersonaCopypasta: // a wave: many users post the same text
		if c.pastaLeft <= 0 {
			c.pasta, c.pastaLeft = g.rng.Int32N(int32(len(cp.copypasta))), 20+g.rng.Int32N(60)
		}
		c.pastaLeft--
		return &cp.copypasta[c.pasta]
	case PersonaBotSwarm: // a swarm: many new accounts, one message pattern
		if c.swarmLeft <= 0 {
			c.swarm, c.swarmLeft = g.rng.Int32N(int32(len(cp.botGroups))), 30+g.rng.Int32N(100)
		}
		c.swarmLeft--
		grp := cp.botGroups[c.swarm]
		return &grp[g.rng.IntN(len(grp))]
	case PersonaAbusive:
		return &cp.abuse[g.rng.IntN(len(cp.abuse))]
	case PersonaRaider:
		if g.chance(g.hostile) {
			switch g.rng.IntN(3) {
			case 0:
				return g.pickTemplate(PersonaSpammer, c)
			case 1:
				return g.pickTemplate(PersonaBotSwarm, c)
			}
			return g.pickTemplate(PersonaAbusive, c)
		}
		return &cp.raid[g.rng.IntN(len(cp.raid))]
	}
	return &cp.chat[g.rng.IntN(len(cp.chat))]
}

func benign(p Persona) bool { return p <= PersonaBroadcaster }

// next appends one PRIVMSG line (with "\r\n") to dst and describes it in m.
// A raid burst message is generated when raid is non-nil.
func (g *generator) next(dst []byte, nowMs int64, raid *raidState, m *msgMeta) []byte {
	var ch int32
	p := g.pickPersona()
	if raid != nil {
		ch, p = raid.ch, PersonaRaider
	} else {
		ch = g.rng.Int32N(int32(len(g.channels)))
	}
	c := &g.channels[ch]
	ui, p := g.pickUser(p, ch, raid, nowMs)
	u := &g.pop.users[ui]
	t := g.pickTemplate(p, c)
	*m = msgMeta{ts: nowMs, tmpl: t, ch: ch, user: ui, prefixUser: -1, persona: p, raid: raid != nil}
	var parent *parentRef
	if benign(p) && c.recentN > 0 && g.chance(g.reply) {
		parent = &c.recent[g.rng.IntN(c.recentN)]
		m.reply, m.prefixUser = true, parent.user
	} else if benign(p) && g.chance(g.action) {
		m.action = true
	}
	switch p {
	case PersonaBotSwarm:
		m.firstMsg = true
	case PersonaRaider:
		m.firstMsg = g.rng.IntN(10) < 7
	default:
		m.firstMsg = g.rng.IntN(300) == 0
	}
	appendUUID(m.id[:0], g.rng.Uint64(), g.rng.Uint64())

	var off int32 // code points before the template text
	if parent != nil {
		off = 2 + int32(utf8.RuneCountInString(g.pop.users[parent.user].display))
	}
	start := len(dst)
	dst = append(dst, "@badge-info="...)
	dst = append(dst, u.badgeInfo...)
	dst = append(dst, ";badges="...)
	dst = append(dst, u.badges...)
	if p != PersonaBotSwarm && g.rng.IntN(10) < 6 {
		dst = append(dst, ";client-nonce="...)
		dst = appendHex64(dst, g.rng.Uint64())
		dst = appendHex64(dst, g.rng.Uint64())
	}
	dst = append(dst, ";color="...)
	dst = append(dst, u.color...)
	dst = append(dst, ";display-name="...)
	dst = appendEscaped(dst, u.display)
	if t.emoteOnly && parent == nil {
		dst = append(dst, ";emote-only=1"...)
	}
	dst = append(dst, ";emotes="...)
	for i, eg := range t.emotes {
		if i > 0 {
			dst = append(dst, '/')
		}
		dst = append(dst, eg.id...)
		dst = append(dst, ':')
		for j, sp := range eg.spans {
			if j > 0 {
				dst = append(dst, ',')
			}
			dst = strconv.AppendInt(dst, int64(sp.start+off), 10)
			dst = append(dst, '-')
			dst = strconv.AppendInt(dst, int64(sp.end+off), 10)
		}
	}
	dst = append(dst, ";first-msg="...)
	dst = appendBool(dst, m.firstMsg)
	dst = append(dst, ";flags="...)
	for i, f := range t.flags {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendInt(dst, int64(f.start+off), 10)
		dst = append(dst, '-')
		dst = strconv.AppendInt(dst, int64(f.end+off), 10)
		dst = append(dst, ':')
		dst = append(dst, f.label...)
	}
	dst = append(dst, ";id="...)
	dst = append(dst, m.id[:]...)
	dst = append(dst, ";mod="...)
	dst = appendBool(dst, u.mod)
	if parent != nil {
		pu := &g.pop.users[parent.user]
		tu := &g.pop.users[parent.threadUser]
		dst = append(dst, ";reply-parent-display-name="...)
		dst = appendEscaped(dst, pu.display)
		dst = append(dst, ";reply-parent-msg-body="...)
		if parent.prefixUser >= 0 {
			dst = append(dst, '@')
			dst = appendEscaped(dst, g.pop.users[parent.prefixUser].display)
			dst = append(dst, `\s`...)
		}
		dst = appendEscaped(dst, parent.tmpl.text)
		dst = append(dst, ";reply-parent-msg-id="...)
		dst = append(dst, parent.id[:]...)
		dst = append(dst, ";reply-parent-user-id="...)
		dst = append(dst, pu.id...)
		dst = append(dst, ";reply-parent-user-login="...)
		dst = append(dst, pu.login...)
		dst = append(dst, ";reply-thread-parent-display-name="...)
		dst = appendEscaped(dst, tu.display)
		dst = append(dst, ";reply-thread-parent-msg-id="...)
		dst = append(dst, parent.threadID[:]...)
		dst = append(dst, ";reply-thread-parent-user-id="...)
		dst = append(dst, tu.id...)
		dst = append(dst, ";reply-thread-parent-user-login="...)
		dst = append(dst, tu.login...)
	}
	dst = append(dst, ";returning-chatter="...)
	dst = appendBool(dst, benign(p) && g.rng.IntN(100) == 0)
	dst = append(dst, ";room-id="...)
	dst = append(dst, c.roomID...)
	dst = append(dst, ";subscriber="...)
	dst = appendBool(dst, u.sub)
	dst = append(dst, ";tmi-sent-ts="...)
	dst = strconv.AppendInt(dst, nowMs, 10)
	dst = append(dst, ";turbo="...)
	dst = appendBool(dst, u.turbo)
	dst = append(dst, ";user-id="...)
	dst = append(dst, u.id...)
	dst = append(dst, ";user-type="...)
	dst = append(dst, u.userType...)
	if u.vip {
		dst = append(dst, ";vip=1"...)
	}
	dst = append(dst, ' ')
	m.tagLen = int32(len(dst) - start)
	dst = append(dst, u.prefix...)
	dst = append(dst, c.name...)
	dst = append(dst, " :"...)
	if m.action {
		dst = append(dst, "\x01ACTION "...)
	}
	if parent != nil {
		dst = append(dst, '@')
		dst = append(dst, g.pop.users[parent.user].display...)
		dst = append(dst, ' ')
	}
	dst = append(dst, t.text...)
	if m.action {
		dst = append(dst, '\x01')
	}
	dst = append(dst, "\r\n"...)

	if !m.action {
		r := &c.recent[c.recentPos]
		r.id, r.user, r.prefixUser, r.tmpl = m.id, ui, m.prefixUser, t
		if parent != nil {
			r.threadID, r.threadUser = parent.threadID, parent.threadUser
		} else {
			r.threadID, r.threadUser = m.id, ui
		}
		c.recentPos = (c.recentPos + 1) % recentPerChannel
		c.recentN = min(c.recentN+1, recentPerChannel)
	}
	return dst
}

// mute stops user idx from chatting until untilMs (math.MaxInt64 = banned).
func (g *generator) mute(idx int32, untilMs int64) { g.muted[idx].Store(untilMs) }

func (g *generator) unmute(idx int32) { g.muted[idx].Store(math.MinInt64) }

// text reconstructs the message body (without ACTION framing).
func (g *generator) text(m *msgMeta) string {
	if m.prefixUser >= 0 {
		return "@" + g.pop.users[m.prefixUser].display + " " + m.tmpl.text
	}
	return m.tmpl.text
}

const hexDigits = "0123456789abcdef"

func appendHex64(dst []byte, v uint64) []byte {
	for shift := 60; shift >= 0; shift -= 4 {
		dst = append(dst, hexDigits[(v>>uint(shift))&0xf])
	}
	return dst
}

// appendUUID appends a version-4 UUID in canonical text form.
func appendUUID(dst []byte, hi, lo uint64) []byte {
	hi = hi&^(0xf<<12) | 0x4<<12 // version 4
	lo = lo&^(0x3<<62) | 0x2<<62 // RFC 4122 variant
	var raw [32]byte
	appendHex64(raw[:0], hi)
	appendHex64(raw[16:16], lo)
	dst = append(dst, raw[0:8]...)
	dst = append(dst, '-')
	dst = append(dst, raw[8:12]...)
	dst = append(dst, '-')
	dst = append(dst, raw[12:16]...)
	dst = append(dst, '-')
	dst = append(dst, raw[16:20]...)
	dst = append(dst, '-')
	return append(dst, raw[20:32]...)
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, '1')
	}
	return append(dst, '0')
}

// appendEscaped appends s as an IRCv3 tag value.
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ';':
			dst = append(dst, `\:`...)
		case ' ':
			dst = append(dst, `\s`...)
		case '\\':
			dst = append(dst, `\\`...)
		case '\r':
			dst = append(dst, `\r`...)
		case '\n':
			dst = append(dst, `\n`...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
