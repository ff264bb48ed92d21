package twitchsim

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Reconnect sends ":tmi.twitch.tv RECONNECT" to connection id (0 = all)
// and closes each one ReconnectGrace later; until then it keeps receiving.
// Like Twitch, only clients with twitch.tv/commands see the RECONNECT line.
// It returns the number of connections affected.
func (s *Server) Reconnect(id uint64) int {
	n := 0
	deadline := time.Now().Add(s.cfg.ReconnectGrace).UnixNano()
	for _, c := range s.targets(id) {
		if c.regAt.Load() == 0 || !c.reconnAt.CompareAndSwap(0, deadline) {
			continue
		}
		c.send(":tmi.twitch.tv RECONNECT", true)
		if s.cfg.ReconnectGrace == 0 {
			c.closeAfterFlush(killGraceful)
		}
		s.reconnectsSent.Add(1)
		n++
	}
	return n
}

// Disconnect closes connection id (0 = all) abruptly: no QUIT, no
// WebSocket close frame, queued lines discarded. With midline, the first
// half of the next queued line (or of a PING) is written first.
func (s *Server) Disconnect(id uint64, midline bool) int {
	n := 0
	for _, c := range s.targets(id) {
		if midline {
			s.unsubscribeAll(c)
			c.mu.Lock()
			c.closing, c.kill = true, killMidline
			c.mu.Unlock()
			c.signal()
		} else {
			c.shutdown("forced disconnect")
		}
		s.disconnects.Add(1)
		n++
	}
	return n
}

// Inject queues line (without CRLF) to every connection joined to channel
// ('#' optional) and returns how many got it. The line is sent as is,
// except that a leading "@tags " section is stripped for clients without
// twitch.tv/tags. It is meant for Helix-triggered CLEARCHAT/CLEARMSG.
func (s *Server) Inject(channel string, line []byte) int {
	cs := s.lookupChannel(channel)
	if cs == nil {
		return 0
	}
	n := 0
	for _, c := range cs.members() {
		if c.send(string(line), false) {
			n++
		}
	}
	return n
}

func (s *Server) lookupChannel(channel string) *chanState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.chans[strings.ToLower(strings.TrimPrefix(channel, "#"))]
}

// RoomID returns the room-id of a channel ('#' optional): RoomIDBase+i for
// simchan i, a stable hash for others.
func (s *Server) RoomID(channel string) string {
	name := strings.ToLower(strings.TrimPrefix(channel, "#"))
	if cs := s.lookupChannel(name); cs != nil {
		return cs.roomID
	}
	return hashRoomID(name)
}

// ChannelByRoomID maps a room-id back to its channel name (without '#').
func (s *Server) ChannelByRoomID(roomID string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, cs := range s.chans {
		if cs.roomID == roomID {
			return name, true
		}
	}
	return "", false
}

// User describes a simulated chatter.
type User struct {
	ID          string `json:"id"`
	Login       string `json:"login"`
	DisplayName string `json:"display_name"`
	Persona     string `json:"persona"`
	// Channel is set for moderators, VIPs and broadcasters: the channel
	// (without '#') where they hold that role.
	Channel string `json:"channel,omitempty"`
}

// LookupUser finds a simulated user by login or user id.
func (s *Server) LookupUser(loginOrID string) (User, bool) {
	idx, ok := s.userIndex(loginOrID)
	if !ok {
		return User{}, false
	}
	u := &s.gen.pop.users[idx]
	out := User{ID: u.id, Login: u.login, DisplayName: u.display, Persona: u.persona.String()}
	if u.channel >= 0 {
		out.Channel = s.gen.channels[u.channel].name
	}
	return out, true
}

func (s *Server) userIndex(loginOrID string) (int32, bool) {
	pop := s.gen.pop // immutable after New
	if i, ok := pop.byLogin[strings.ToLower(loginOrID)]; ok {
		return i, true
	}
	i, ok := pop.byID[loginOrID]
	return i, ok
}

// LookupMessage finds one of the last RecentMessages generated PRIVMSGs.
func (s *Server) LookupMessage(msgID string) (TruthRecord, bool) {
	s.recentMu.Lock()
	var m msgMeta
	found := false
	for i := 0; i < s.recentN; i++ {
		j := (s.recentPos - 1 - i + len(s.recent)) % len(s.recent)
		if string(s.recent[j].id[:]) == msgID {
			m, found = s.recent[j], true
			break
		}
	}
	s.recentMu.Unlock()
	if !found {
		return TruthRecord{}, false
	}
	return s.gen.record(&m), true
}

// ClearChatOptions selects a CLEARCHAT. With neither Login nor UserID the
// whole chat is cleared; with a user, Duration > 0 is a timeout (rounded
// up to whole seconds) and 0 a permanent ban.
type ClearChatOptions struct {
	Channel  string
	Login    string
	UserID   string
	Duration time.Duration
}

// ClearChat sends CLEARCHAT (tags as on Twitch) to every connection joined
// to the channel that has twitch.tv/commands. A timed-out or banned
// simulated user stops chatting until the timeout ends or Unban. It
// returns how many connections got the line.
func (s *Server) ClearChat(o ClearChatOptions) (int, error) {
	name := strings.ToLower(strings.TrimPrefix(o.Channel, "#"))
	if name == "" {
		return 0, fmt.Errorf("clear chat: %w: empty channel", ErrUnknownChannel)
	}
	now := time.Now()
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	room := s.RoomID(name)
	var line string
	if o.Login == "" && o.UserID == "" {
		line = "@room-id=" + room + ";tmi-sent-ts=" + ts + " :tmi.twitch.tv CLEARCHAT #" + name
	} else {
		login, id := strings.ToLower(o.Login), o.UserID
		idx, known := s.userIndex(id)
		if !known && login != "" {
			idx, known = s.userIndex(login)
		}
		if known {
			u := &s.gen.pop.users[idx]
			login, id = u.login, u.id
		}
		if login == "" || id == "" {
			return 0, fmt.Errorf("clear chat user %q/%q: %w", o.Login, o.UserID, ErrUnknownUser)
		}
		tags := "@room-id=" + room + ";target-user-id=" + id + ";tmi-sent-ts=" + ts
		until := int64(math.MaxInt64)
		if o.Duration > 0 {
			secs := int64((o.Duration + time.Second - 1) / time.Second)
			tags = "@ban-duration=" + strconv.FormatInt(secs, 10) + ";" + tags[1:]
			until = now.UnixMilli() + secs*1000
		}
		line = tags + " :tmi.twitch.tv CLEARCHAT #" + name + " :" + login
		if known {
			s.gen.mute(idx, until)
		}
	}
	cs := s.lookupChannel(name)
	if cs == nil {
		return 0, nil
	}
	return s.broadcast(cs, line, true), nil
}

// Unban lets a timed-out or banned simulated user chat again (no IRC line
// is sent, like Twitch).
func (s *Server) Unban(loginOrID string) bool {
	idx, ok := s.userIndex(loginOrID)
	if ok {
		s.gen.unmute(idx)
	}
	return ok
}

// ClearMsg sends CLEARMSG for a recent generated message to every
// connection joined to its channel that has twitch.tv/commands. channel
// may be "" (taken from the message); otherwise it must match.
func (s *Server) ClearMsg(channel, msgID string) (int, error) {
	rec, ok := s.LookupMessage(msgID)
	if !ok {
		return 0, fmt.Errorf("clear message %q: %w", msgID, ErrUnknownMessage)
	}
	if channel != "" && strings.ToLower(strings.TrimPrefix(channel, "#")) != rec.Channel {
		return 0, fmt.Errorf("clear message %q in %q: %w", msgID, channel, ErrUnknownMessage)
	}
	return s.clearMsgRecord(&rec)
}

// clearMsgRecord sends CLEARMSG for rec, which need not be among the
// recent messages any more (simulated human moderators act late).
func (s *Server) clearMsgRecord(rec *TruthRecord) (int, error) {
	cs := s.lookupChannel(rec.Channel)
	if cs == nil {
		return 0, fmt.Errorf("clear message %q in %q: %w", rec.MsgID, rec.Channel, ErrUnknownChannel)
	}
	text := rec.Text
	if rec.Action {
		text = "\x01ACTION " + text + "\x01"
	}
	line := "@login=" + rec.Login + ";room-id=;target-msg-id=" + rec.MsgID + ";tmi-sent-ts=" +
		strconv.FormatInt(time.Now().UnixMilli(), 10) + " :tmi.twitch.tv CLEARMSG #" + rec.Channel + " :" + text
	return s.broadcast(cs, line, true), nil
}

var _ recordClearer = (*Server)(nil)

// Stats is the JSON body of GET /stats. Channel names carry no '#'.
type Stats struct {
	// Generated PRIVMSGs; Generated = Sent + Undelivered + Dropped + Inflight.
	Generated uint64 `json:"generated"`
	// Sent: written to at least one joined connection (each message once).
	Sent uint64 `json:"sent"`
	// Undelivered: no connection was joined to the channel when generated.
	Undelivered uint64 `json:"undelivered"`
	// Dropped: addressed to joined connections but written to none.
	Dropped uint64 `json:"dropped"`
	// Inflight: still queued.
	Inflight uint64 `json:"inflight"`
	// DroppedSlow: per-connection PRIVMSG copies rejected by a full queue.
	DroppedSlow     uint64            `json:"dropped_slow"`
	SlowDisconnects uint64            `json:"slow_disconnects"`
	SentByChannel   map[string]uint64 `json:"sent_by_channel"`
	// Connections currently open (registered or not).
	Connections int `json:"connections"`
	// ClientsJoined is the number of connections joined to each channel
	// that has at least one.
	ClientsJoined map[string]int `json:"clients_joined"`
	Conns         []ConnStats    `json:"conns"`
	Rate          float64        `json:"rate"`
	// Generating: the generator is running (started and not stopped).
	Generating bool `json:"generating"`
	Paused     bool `json:"paused"`
	// Done: generation has ended (stop, count or duration reached).
	Done             bool    `json:"done"`
	LagSkipped       uint64  `json:"lag_skipped"`
	Raids            uint64  `json:"raids"`
	ReconnectsSent   uint64  `json:"reconnects_sent"`
	Disconnects      uint64  `json:"disconnects"`
	PingTimeouts     uint64  `json:"ping_timeouts"`
	AuthFailures     uint64  `json:"auth_failures"`
	JoinsRateLimited uint64  `json:"joins_rate_limited"`
	TruthRecords     uint64  `json:"truth_records"`
	UptimeS          float64 `json:"uptime_s"`
	// Helix counts the simulated Helix requests (absent without Config.Helix).
	Helix *HelixStats `json:"helix,omitempty"`
	// Moderators counts what the simulated human moderators saw and did
	// (absent without Config.Moderators).
	Moderators *ModeratorStats `json:"moderators,omitempty"`
}

// ConnStats describes one open connection.
type ConnStats struct {
	ID              uint64   `json:"id"`
	Nick            string   `json:"nick"`
	Transport       string   `json:"transport"`
	Remote          string   `json:"remote"`
	Channels        []string `json:"channels"`
	QueuedBytes     int      `json:"queued_bytes"`
	LinesWritten    uint64   `json:"lines_written"`
	PrivmsgsWritten uint64   `json:"privmsgs_written"`
	DroppedSlow     uint64   `json:"dropped_slow"`
	Reconnecting    bool     `json:"reconnecting"`
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	st := Stats{
		Sent:             s.sent.Load(),
		Undelivered:      s.undelivered.Load(),
		Dropped:          s.dropped.Load(),
		DroppedSlow:      s.droppedSlow.Load(),
		SlowDisconnects:  s.slowDisconnects.Load(),
		SentByChannel:    make(map[string]uint64, len(s.sims)),
		ClientsJoined:    map[string]int{},
		Rate:             s.Rate(),
		Generating:       s.genRunning.Load(),
		Paused:           s.paused.Load(),
		LagSkipped:       s.lagSkipped.Load(),
		Raids:            s.raids.Load(),
		ReconnectsSent:   s.reconnectsSent.Load(),
		Disconnects:      s.disconnects.Load(),
		PingTimeouts:     s.pingTimeouts.Load(),
		AuthFailures:     s.authFailures.Load(),
		JoinsRateLimited: s.joinsRateLimited.Load(),
		TruthRecords:     s.truthRecords.Load(),
	}
	// Outcomes are loaded before generated, so Generated >= their sum.
	st.Generated = s.generated.Load()
	st.Inflight = st.Generated - min(st.Generated, st.Sent+st.Undelivered+st.Dropped)
	select {
	case <-s.genDone:
		st.Done = true
	default:
	}
	for i, cs := range s.sims {
		st.SentByChannel[cs.name] = s.sentByChan[i].Load()
	}
	s.mu.Lock()
	if !s.started.IsZero() {
		st.UptimeS = time.Since(s.started).Seconds()
	}
	for name, cs := range s.chans {
		if n := len(cs.members()); n > 0 {
			st.ClientsJoined[name] = n
		}
	}
	for _, c := range s.conns {
		cst := ConnStats{
			ID: c.id, Nick: c.nickname(), Transport: c.transport, Remote: c.remote,
			LinesWritten: c.linesWritten.Load(), PrivmsgsWritten: c.privmsgsWritten.Load(),
			DroppedSlow: c.droppedSlow.Load(), Reconnecting: c.reconnAt.Load() != 0,
			Channels: make([]string, 0, len(c.chans)),
		}
		c.mu.Lock() // lock order: s.mu before c.mu
		cst.QueuedBytes = len(c.q)
		c.mu.Unlock()
		for name := range c.chans {
			cst.Channels = append(cst.Channels, name)
		}
		sort.Strings(cst.Channels)
		st.Conns = append(st.Conns, cst)
	}
	s.mu.Unlock()
	sort.Slice(st.Conns, func(i, j int) bool { return st.Conns[i].ID < st.Conns[j].ID })
	st.Connections = len(st.Conns)
	if s.helix != nil {
		hs := s.helix.Stats()
		st.Helix = &hs
	}
	if s.mods != nil {
		ms := s.mods.Stats()
		st.Moderators = &ms
	}
	return st
}
