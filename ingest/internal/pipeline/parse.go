package pipeline

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/streamsafe-rl/streamsafe/ingest/internal/dedupe"
	"github.com/streamsafe-rl/streamsafe/ingest/internal/irc"
	"github.com/streamsafe-rl/streamsafe/ingest/internal/metrics"
	"github.com/streamsafe-rl/streamsafe/ingest/internal/twitch"
	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
)

// errNoID reports a chat line without the id tag every PRIVMSG carries;
// consumers need it (event.DecodeChat rejects an empty msg_id).
var errNoID = errors.New("pipeline: PRIVMSG without id tag")

// ParserConfig configures a Parser.
type ParserConfig struct {
	MaxLineBytes   int           // irc.DefaultMaxLineBytes if 0
	DedupeCapacity int           // message keys remembered (dedupe.DefaultCapacity if 0)
	DedupeWindow   time.Duration // cross-connection window for lines without id (dedupe.DefaultLineWindow if 0)
	Logger         *slog.Logger
}

// Parser is the parse/filter stage: lines in, encoded events out.
type Parser struct {
	in  <-chan *twitch.Batch
	out chan<- *Events
	m   *metrics.Metrics
	log *slog.Logger

	sampler *logging.Sampler
	seen    *dedupe.Set
	maxLine int

	// Scratch reused for every line.
	msg     irc.Message
	chat    irc.Chat
	mod     irc.Mod
	scratch []byte
}

// NewParser returns the stage reading in and writing out.
func NewParser(cfg ParserConfig, in <-chan *twitch.Batch, out chan<- *Events, m *metrics.Metrics) *Parser {
	if cfg.Logger == nil {
		cfg.Logger = logging.Discard()
	}
	return &Parser{
		in: in, out: out, m: m, log: cfg.Logger,
		sampler: logging.NewSampler(10, 10*time.Second),
		seen:    dedupe.New(cfg.DedupeCapacity, cfg.DedupeWindow),
		maxLine: cfg.MaxLineBytes,
	}
}

// Run processes batches until in is closed, then closes out. Once ctx is
// done, lines are dropped (counted as shutdown) instead of forwarded.
func (p *Parser) Run(ctx context.Context) error {
	defer close(p.out)
	for b := range p.in {
		ev := newEvents()
		p.take(ctx, b, ev)
		open := true
		// Coalesce whatever else is already queued, so the limiter and
		// writer see larger batches under load.
		for open && len(ev.entries) < maxEventsPerBatch {
			select {
			case b, ok := <-p.in:
				if !ok {
					open = false
					break
				}
				p.take(ctx, b, ev)
			default:
				open = false
			}
		}
		p.send(ctx, ev)
	}
	return nil
}

func (p *Parser) take(ctx context.Context, b *twitch.Batch, ev *Events) {
	if ctx.Err() != nil {
		for i := range b.Len() {
			k := metrics.KindOf(b.Command(i))
			p.m.InFlight[k].Dec()
			p.m.Dropped[k][metrics.DropShutdown].Inc()
		}
	} else {
		p.Process(b, ev)
	}
	b.Release()
}

func (p *Parser) send(ctx context.Context, ev *Events) {
	if len(ev.entries) == 0 {
		ev.release()
		return
	}
	select {
	case p.out <- ev:
	case <-ctx.Done():
		ev.dropAll(p.m, metrics.DropShutdown)
	}
}

// Process parses every line of b and appends the resulting entries to ev.
// Lines that end here (parse errors, duplicates, filtered) are accounted.
func (p *Parser) Process(b *twitch.Batch, ev *Events) {
	recvUs := b.ReceivedAt.UnixMicro()
	for i := range b.Len() {
		line, cmd := b.Line(i), b.Command(i)
		switch metrics.KindOf(cmd) {
		case metrics.Chat:
			p.chatLine(line, b, recvUs, ev)
		case metrics.Mod:
			p.modLine(line, cmd, b, recvUs, ev)
		default:
			// Readers only forward chat and mod lines.
			p.m.InFlight[metrics.Control].Dec()
			p.m.Dropped[metrics.Control][metrics.DropUnknown].Inc()
		}
	}
}

func (p *Parser) chatLine(line []byte, b *twitch.Batch, recvUs int64, ev *Events) {
	const k = metrics.Chat
	err := irc.Parse(line, p.maxLine, &p.msg)
	if err == nil {
		err = irc.ParseChat(&p.msg, &p.chat)
	}
	c := &p.chat
	if err == nil && len(c.MsgID) == 0 {
		err = errNoID
	}
	if err != nil {
		p.parseError(k, line, err)
		return
	}
	if p.seen.ID(c.MsgID) {
		p.m.InFlight[k].Dec()
		p.m.Duplicates[k].Inc()
		return
	}
	if !utf8.Valid(c.Text) || !utf8.Valid(c.DisplayName) {
		p.badInput(metrics.BadInvalidUTF8, line)
	}
	s := lineString{line: line, s: string(line)}
	e := event.Chat{
		MsgID:                  s.sub(c.MsgID),
		RoomID:                 s.sub(c.RoomID),
		Channel:                s.sub(c.Channel),
		UserID:                 s.sub(c.UserID),
		Login:                  s.sub(c.Login),
		DisplayName:            p.unescape(&s, c.DisplayName),
		Text:                   s.sub(c.Text),
		IsAction:               c.IsAction,
		TmiSentTsMs:            c.TmiSentTs,
		ReceivedAtUs:           recvUs,
		Broadcaster:            c.Broadcaster,
		Moderator:              c.Moderator,
		VIP:                    c.VIP,
		Subscriber:             c.Subscriber,
		SubMonths:              c.SubMonths,
		FirstMsg:               c.FirstMsg,
		ReturningChatter:       c.ReturningChatter,
		ReplyParentMsgID:       s.sub(c.ReplyParentMsgID),
		ReplyParentLogin:       s.sub(c.ReplyParentLogin),
		ReplyParentDisplayName: p.unescape(&s, c.ReplyParentDisplayName),
		SourceRoomID:           s.sub(c.SourceRoomID),
		EmoteCount:             c.EmoteCount,
		EmoteChars:             c.EmoteChars,
	}
	start := len(ev.args)
	// The values stay referenced by ev.args until the XADD is written
	// (Events are held until then); pointers avoid boxing each value.
	v := new(event.ChatValues)
	e.Encode(v)
	ev.args = v.AppendArgs(ev.args)
	ev.entries = append(ev.entries, entry{kind: k, channel: e.Channel, start: start, end: len(ev.args)})
}

func (p *Parser) modLine(line []byte, cmd irc.Command, b *twitch.Batch, recvUs int64, ev *Events) {
	const k = metrics.Mod
	if err := irc.Parse(line, p.maxLine, &p.msg); err != nil {
		p.parseError(k, line, err)
		return
	}
	if cmd == irc.CmdUserNotice {
		if id, _ := p.msg.Tag("msg-id"); string(id) != "raid" {
			p.m.InFlight[k].Dec()
			p.m.Filter(k, cmd)
			return
		}
	}
	if err := irc.ParseMod(&p.msg, &p.mod); err != nil {
		p.parseError(k, line, err)
		return
	}
	d := &p.mod
	var dup bool
	if len(d.MsgID) > 0 {
		dup = p.seen.ID(d.MsgID)
	} else {
		dup = p.seen.Line(line, b.Conn, b.ReceivedAt)
	}
	if dup {
		p.m.InFlight[k].Dec()
		p.m.Duplicates[k].Inc()
		return
	}
	s := lineString{line: line, s: string(line)}
	e := event.Mod{
		Source:       "irc",
		RoomID:       s.sub(d.RoomID),
		Channel:      s.sub(d.Channel),
		TmiSentTsMs:  d.TmiSentTs,
		ReceivedAtUs: recvUs,
	}
	switch cmd {
	case irc.CmdClearChat:
		switch d.Clear {
		case irc.ClearTimeout:
			e.Kind, e.DurationS = event.ModTimeout, d.BanDurationS
		case irc.ClearBan:
			e.Kind = event.ModBan
		default:
			e.Kind = event.ModClear
		}
		e.TargetUserID, e.TargetLogin = s.sub(d.TargetUserID), s.sub(d.TargetLogin)
	case irc.CmdClearMsg:
		e.Kind = event.ModDelete
		e.TargetMsgID, e.TargetLogin, e.Text = s.sub(d.TargetMsgID), s.sub(d.Login), s.sub(d.Text)
	case irc.CmdUserNotice:
		e.Kind = event.ModRaid
		e.RaidViewers, e.RaidFromLogin = d.RaidViewers, s.sub(d.RaidLogin)
	case irc.CmdRoomState:
		e.Kind = event.ModRoomState
		e.Settings = roomSettings(p.msg.Tags)
	}
	start := len(ev.args)
	ev.args = e.Values(ev.args)
	ev.entries = append(ev.entries, entry{kind: k, channel: e.Channel, start: start, end: len(ev.args)})
}

// roomSettings returns a ROOMSTATE's tags as on the wire without room-id,
// e.g. "emote-only=0;slow=5".
func roomSettings(tags []byte) string {
	var sb strings.Builder
	for t := range bytes.SplitSeq(tags, []byte{';'}) {
		if len(t) == 0 || bytes.HasPrefix(t, []byte("room-id=")) || string(t) == "room-id" {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte(';')
		}
		sb.Write(t)
	}
	return sb.String()
}

// unescape returns the unescaped tag value v as a string, sharing the line
// string when v has no escapes.
func (p *Parser) unescape(s *lineString, v []byte) string {
	if bytes.IndexByte(v, '\\') < 0 {
		return s.sub(v)
	}
	p.scratch = irc.Unescape(p.scratch, v)
	return string(p.scratch)
}

func (p *Parser) parseError(k metrics.Kind, line []byte, err error) {
	p.m.InFlight[k].Dec()
	p.m.ParseErrors[k].Inc()
	p.m.BadInput[metrics.BadMalformed].Inc()
	if ok, suppressed := p.sampler.Allow(time.Now()); ok {
		p.log.LogAttrs(context.Background(), slog.LevelWarn, "cannot parse line",
			slog.String(logging.KeyReason, metrics.BadMalformed.String()), logging.Err(err),
			slog.String("line", excerpt(line)), slog.Int64("suppressed", suppressed))
	}
}

func (p *Parser) badInput(kind metrics.BadInput, line []byte) {
	p.m.BadInput[kind].Inc()
	if ok, suppressed := p.sampler.Allow(time.Now()); ok {
		p.log.LogAttrs(context.Background(), slog.LevelWarn, "bad input",
			slog.String(logging.KeyReason, kind.String()),
			slog.String("line", excerpt(line)), slog.Int64("suppressed", suppressed))
	}
}

// lineString converts a line to a string once; fields of the line become
// substrings of it instead of one allocation each.
type lineString struct {
	line []byte
	s    string
}

// sub returns x, a sub-slice of the line, as a substring of s. A slice that
// is not part of the line is copied.
func (l *lineString) sub(x []byte) string {
	if len(x) == 0 {
		return ""
	}
	off := cap(l.line) - cap(x)
	if off >= 0 && off+len(x) <= len(l.line) && &l.line[off] == &x[0] {
		return l.s[off : off+len(x)]
	}
	return string(x)
}

func excerpt(line []byte) string {
	const n = 160
	if len(line) > n {
		return string(line[:n]) + "..."
	}
	return string(line)
}
