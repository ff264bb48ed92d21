package twitchsim

import (
	"bufio"
	"bytes"
	"errors"
	"hash/fnv"
	"strconv"
	"strings"
	"time"
)

const (
	maxClientLine = 16 << 10
	welcomeHost   = ":tmi.twitch.tv"
)

// readLoopTCP reads CRLF- (or LF-) terminated lines until the connection ends.
func (c *conn) readLoopTCP() {
	br := bufio.NewReaderSize(c.nc, maxClientLine)
	sess := &session{c: c}
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			c.shutdown("client line too long")
			return
		}
		if len(line) > 0 && !sess.handle(line) {
			return
		}
		if err != nil {
			c.shutdown("read: " + err.Error())
			return
		}
	}
}

// readLoopWS reads text frames; a frame may carry several lines.
func (c *conn) readLoopWS() {
	c.ws.SetReadLimit(maxClientLine)
	sess := &session{c: c}
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.shutdown("read: " + err.Error())
			return
		}
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			if !sess.handle(line) {
				return
			}
		}
	}
}

// session is the reader goroutine's view of the IRC session.
type session struct {
	c         *conn
	pass      string
	nick      string
	anonymous bool
	joins     []time.Time
}

// handle processes one client line; it returns false once the connection
// is closing.
func (ss *session) handle(raw []byte) bool {
	line := string(bytes.TrimRight(raw, "\r\n"))
	if strings.TrimSpace(line) == "" {
		return true
	}
	cmd, params := parseClientLine(line)
	c := ss.c
	switch cmd {
	case "CAP":
		ss.handleCap(params)
	case "PASS":
		if len(params) > 0 {
			ss.pass = params[0]
		}
	case "NICK":
		if len(params) > 0 && c.regAt.Load() == 0 {
			ss.nick = strings.ToLower(params[0])
			return ss.register()
		}
	case "USER":
	case "JOIN":
		if c.regAt.Load() == 0 {
			c.send(welcomeHost+" 451 * JOIN :You have not registered", false)
			return true
		}
		if len(params) > 0 {
			for name := range strings.SplitSeq(params[0], ",") {
				ss.join(name)
			}
		}
	case "PART":
		if len(params) > 0 && c.regAt.Load() != 0 {
			for name := range strings.SplitSeq(params[0], ",") {
				ch := normalizeChannel(name)
				if ch != "" && c.s.unsubscribe(c, ch) {
					c.send(":"+ss.nick+"!"+ss.nick+"@"+ss.nick+".tmi.twitch.tv PART #"+ch, false)
				}
			}
		}
	case "PING":
		reply := welcomeHost + " PONG tmi.twitch.tv"
		if len(params) > 0 {
			reply += " :" + params[len(params)-1]
		}
		c.send(reply, false)
	case "PONG":
		c.pingOut.Store(0)
	case "PRIVMSG":
		// Own messages are not echoed; Twitch answers with USERSTATE.
		if len(params) > 0 && c.regAt.Load() != 0 && !ss.anonymous {
			if ch := normalizeChannel(params[0]); c.s.joined(c, ch) {
				c.send(ss.userState(ch), true)
			}
		}
	case "QUIT":
		c.closeAfterFlush(killGraceful)
		return false
	default:
		nick := ss.nick
		if nick == "" {
			nick = "*"
		}
		c.send(welcomeHost+" 421 "+nick+" "+cmd+" :Unknown command", false)
	}
	return true
}

// parseClientLine splits "[@tags] [:prefix] CMD p1 p2 :trailing".
func parseClientLine(line string) (cmd string, params []string) {
	if strings.HasPrefix(line, "@") {
		_, line, _ = strings.Cut(line, " ")
	}
	line = strings.TrimLeft(line, " ")
	if strings.HasPrefix(line, ":") {
		_, line, _ = strings.Cut(line, " ")
	}
	line = strings.TrimLeft(line, " ")
	cmd, line, _ = strings.Cut(line, " ")
	for line != "" {
		line = strings.TrimLeft(line, " ")
		if strings.HasPrefix(line, ":") {
			params = append(params, line[1:])
			break
		}
		var p string
		p, line, _ = strings.Cut(line, " ")
		if p != "" {
			params = append(params, p)
		}
	}
	return strings.ToUpper(cmd), params
}

var knownCaps = map[string]uint32{
	"twitch.tv/tags": capTags, "twitch.tv/commands": capCommands, "twitch.tv/membership": capMembership,
}

func (ss *session) handleCap(params []string) {
	c := ss.c
	if len(params) == 0 {
		return
	}
	switch strings.ToUpper(params[0]) {
	case "LS":
		c.send(welcomeHost+" CAP * LS :twitch.tv/tags twitch.tv/commands twitch.tv/membership", false)
	case "REQ":
		if len(params) < 2 {
			return
		}
		requested := params[len(params)-1]
		var bits uint32
		for name := range strings.FieldsSeq(requested) {
			bit, ok := knownCaps[name]
			if !ok {
				c.send(welcomeHost+" CAP * NAK :"+requested, false)
				return
			}
			bits |= bit
		}
		c.caps.Or(bits)
		c.send(welcomeHost+" CAP * ACK :"+requested, false)
	}
}

func validNick(n string) bool {
	if n == "" || len(n) > 25 {
		return false
	}
	for i := 0; i < len(n); i++ {
		if b := n[i]; !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_') {
			return false
		}
	}
	return true
}

func isAnonymous(nick string) bool {
	digits, ok := strings.CutPrefix(nick, "justinfan")
	if !ok || digits == "" {
		return false
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return false
		}
	}
	return true
}

// register authenticates the session after NICK.
func (ss *session) register() bool {
	c, s := ss.c, ss.c.s
	fail := func(notice string) bool {
		s.authFailures.Add(1)
		c.send(welcomeHost+" NOTICE * :"+notice, false)
		c.closeAfterFlush(killGraceful)
		return false
	}
	if !validNick(ss.nick) {
		return fail("Invalid NICK")
	}
	ss.anonymous = isAnonymous(ss.nick)
	if !ss.anonymous && len(s.tokens) > 0 {
		tok, ok := strings.CutPrefix(ss.pass, "oauth:")
		if !ok || tok == "" {
			return fail("Improperly formatted auth")
		}
		if _, valid := s.tokens[tok]; !valid {
			return fail("Login authentication failed")
		}
	}
	nick := ss.nick
	c.nick.Store(&nick)
	for _, l := range [...]string{
		" 001 " + nick + " :Welcome, GLHF!",
		" 002 " + nick + " :Your host is tmi.twitch.tv",
		" 003 " + nick + " :This server is rather new",
		" 004 " + nick + " :-",
		" 375 " + nick + " :-",
		" 372 " + nick + " :You are in a maze of twisty passages, all alike.",
		" 376 " + nick + " :>",
	} {
		c.send(welcomeHost+l, false)
	}
	if !ss.anonymous && c.hasCap(capTags) {
		c.send("@badge-info=;badges=;color=;display-name="+nick+";emote-sets=0;user-id="+BotUserID(nick)+";user-type= :tmi.twitch.tv GLOBALUSERSTATE", true)
	}
	now := time.Now().UnixNano()
	c.lastPing.Store(now)
	c.regAt.Store(now)
	s.log.Debug("client registered", "conn", c.id, "nick", nick, "anonymous", ss.anonymous, "transport", c.transport)
	return true
}

// BotUserID is the user-id the simulator assigns to a logged-in client nick
// (GLOBALUSERSTATE); it is stable across runs.
func BotUserID(login string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(login))
	return strconv.FormatUint(700000000+uint64(h.Sum32()%100000000), 10)
}

func normalizeChannel(name string) string {
	name = strings.TrimSpace(name)
	if !strings.HasPrefix(name, "#") {
		return ""
	}
	return strings.ToLower(name[1:])
}

func (ss *session) join(raw string) {
	c, s := ss.c, ss.c.s
	ch := normalizeChannel(raw)
	if ch == "" {
		return
	}
	if lim := s.cfg.JoinLimit; lim > 0 {
		now := time.Now()
		keep := ss.joins[:0]
		for _, t := range ss.joins {
			if now.Sub(t) < s.cfg.JoinWindow {
				keep = append(keep, t)
			}
		}
		ss.joins = keep
		if len(ss.joins) >= lim {
			s.joinsRateLimited.Add(1)
			c.send("@msg-id=msg_ratelimit :tmi.twitch.tv NOTICE #"+ch+" :JOIN rate limit exceeded ("+
				strconv.Itoa(lim)+" per "+s.cfg.JoinWindow.String()+"); JOIN #"+ch+" was dropped.", false)
			return
		}
		ss.joins = append(ss.joins, now)
	}
	cs, ok := s.subscribe(c, ch)
	if !ok {
		return
	}
	n := ss.nick
	c.send(":"+n+"!"+n+"@"+n+".tmi.twitch.tv JOIN #"+ch, false)
	c.send(":"+n+".tmi.twitch.tv 353 "+n+" = #"+ch+" :"+n, false)
	c.send(":"+n+".tmi.twitch.tv 366 "+n+" #"+ch+" :End of /NAMES list", false)
	if !ss.anonymous {
		c.send(ss.userState(ch), true)
	}
	c.send("@emote-only=0;followers-only=-1;r9k=0;rituals=0;room-id="+cs.roomID+";slow=0;subs-only=0 :tmi.twitch.tv ROOMSTATE #"+ch, true)
}

// userState is the client's own USERSTATE in channel ch.
func (ss *session) userState(ch string) string {
	badges, mod, userType := "", "0", ""
	switch {
	case ss.nick == ch:
		badges = "broadcaster/1"
	case ss.c.s.cfg.BotIsMod:
		badges, mod, userType = "moderator/1", "1", "mod"
	}
	return "@badge-info=;badges=" + badges + ";color=;display-name=" + ss.nick + ";emote-sets=0;mod=" + mod +
		";subscriber=0;user-type=" + userType + " :tmi.twitch.tv USERSTATE #" + ch
}
