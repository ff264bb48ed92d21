package twitchsim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// RaidOptions configures one raid; zero fields take the Config defaults.
type RaidOptions struct {
	// Channel is a simulated channel ("simchan3", '#' optional); "" picks one
	// at random.
	Channel    string
	Viewers    int
	Duration   time.Duration
	Multiplier float64
}

// SetRate changes the total steady rate (PRIVMSGs per second).
func (s *Server) SetRate(perSecond float64) error {
	if perSecond < 0 || math.IsNaN(perSecond) || math.IsInf(perSecond, 0) {
		return fmt.Errorf("set rate %g: %w: must be a finite number >= 0", perSecond, ErrInvalidConfig)
	}
	s.rateBits.Store(math.Float64bits(perSecond))
	return nil
}

// Rate is the current total steady rate.
func (s *Server) Rate() float64 { return math.Float64frombits(s.rateBits.Load()) }

// Pause suspends generation (no catch-up after Resume).
func (s *Server) Pause() { s.paused.Store(true) }

// Resume continues a paused generation (also releases StartPaused).
func (s *Server) Resume() { s.paused.Store(false) }

// Stop ends generation for good and flushes the truth file; connections
// stay open.
func (s *Server) Stop() { s.stopOnce.Do(func() { close(s.stopCh) }) }

// GenerationDone is closed when generation has ended (Stop, Count,
// Duration or server close) and the truth file is flushed.
func (s *Server) GenerationDone() <-chan struct{} { return s.genDone }

// simIndex resolves a simulated channel name.
func (s *Server) simIndex(name string) (int32, bool) {
	name = strings.ToLower(strings.TrimPrefix(name, "#"))
	s.mu.Lock()
	cs := s.chans[name]
	s.mu.Unlock()
	if cs == nil || cs.sim < 0 {
		return -1, false
	}
	return cs.sim, true
}

// Raid queues a raid: a USERNOTICE msg-id=raid followed by a burst of
// messages from raiders in that channel.
func (s *Server) Raid(opts RaidOptions) error {
	if opts.Channel != "" {
		if _, ok := s.simIndex(opts.Channel); !ok {
			return fmt.Errorf("raid %q: %w", opts.Channel, ErrUnknownChannel)
		}
	}
	select {
	case <-s.stopCh:
		return ErrStopped
	default:
	}
	select {
	case s.ctrl <- opts:
		return nil
	default:
		return errors.New("twitchsim: too many queued raids")
	}
}

func (s *Server) allJoined() bool {
	for _, cs := range s.sims {
		if len(cs.members()) == 0 {
			return false
		}
	}
	return true
}

// genLoop is the state of the generator goroutine.
type genLoop struct {
	s        *Server
	line     []byte
	truthBuf []byte
	meta     msgMeta
	rec      TruthRecord // built for observers, reused
	epoch    uint64
	dirty    []*conn

	raid         *raidState
	raidUntil    time.Time
	raidStart    time.Time
	raidRate     float64
	raidProduced int64
}

func (s *Server) runGenerator(ctx context.Context) {
	defer close(s.genDone)
	defer func() {
		if s.truth != nil {
			if err := s.truth.flush(); err != nil {
				s.log.Error("cannot flush truth file", "err", err)
			}
		}
	}()
	wait := time.NewTicker(5 * time.Millisecond)
	for s.paused.Load() || (s.cfg.WaitForJoin && !s.allJoined()) {
		select {
		case <-ctx.Done():
			wait.Stop()
			return
		case <-s.stopCh:
			wait.Stop()
			return
		case <-wait.C:
		}
	}
	wait.Stop()
	s.genRunning.Store(true)
	defer s.genRunning.Store(false)

	gl := &genLoop{s: s, line: make([]byte, 0, 16<<10)}
	start := time.Now()
	s.log.Info("generation started", "rate", s.Rate(), "channels", s.cfg.Channels, "count", s.cfg.Count, "duration", s.cfg.Duration)
	epoch, produced := start, int64(0)
	rate := s.Rate()
	nextRaid := start.Add(s.cfg.RaidEvery)
	ticker := time.NewTicker(s.cfg.Tick)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.stopCh:
			return
		case opts := <-s.ctrl:
			gl.startRaid(time.Now(), opts)
		case now := <-ticker.C:
			if s.paused.Load() {
				epoch, produced = now, 0
				gl.raidStart, gl.raidProduced = now, 0
				continue
			}
			if s.cfg.Duration > 0 && now.Sub(start) >= s.cfg.Duration {
				s.Stop()
				return
			}
			if r := s.Rate(); r != rate {
				rate, epoch, produced = r, now, 0
			}
			if s.cfg.RaidEvery > 0 && !now.Before(nextRaid) {
				nextRaid = now.Add(s.cfg.RaidEvery)
				gl.startRaid(now, RaidOptions{})
			}
			gl.epoch++
			nowNs, nowMs := now.UnixNano(), now.UnixMilli()
			due := gl.due(rate, now.Sub(epoch), produced)
			produced += due
			if !gl.emitN(due, nowNs, nowMs, nil) {
				return
			}
			if gl.raid != nil {
				if !now.Before(gl.raidUntil) {
					gl.raid = nil
				} else {
					d := gl.due(gl.raidRate, now.Sub(gl.raidStart), gl.raidProduced)
					gl.raidProduced += d
					if !gl.emitN(d, nowNs, nowMs, gl.raid) {
						return
					}
				}
			}
			gl.flushDirty()
		}
	}
}

// due is how many messages are owed at rate after elapsed; a backlog of
// more than 250 ms (CPU starvation) is skipped and counted.
func (gl *genLoop) due(rate float64, elapsed time.Duration, produced int64) int64 {
	d := int64(rate*elapsed.Seconds()) - produced
	limit := int64(rate*0.25) + 1
	if d > limit {
		gl.s.lagSkipped.Add(uint64(d - limit))
		d = limit
	}
	return max(d, 0)
}

// emitN generates n messages; it returns false once Count is reached.
func (gl *genLoop) emitN(n int64, nowNs, nowMs int64, raid *raidState) bool {
	s := gl.s
	for range n {
		if s.cfg.Count > 0 && s.generated.Load() >= uint64(s.cfg.Count) {
			gl.flushDirty()
			s.Stop()
			return false
		}
		gl.emit(nowNs, nowMs, raid)
	}
	if s.cfg.Count > 0 && s.generated.Load() >= uint64(s.cfg.Count) {
		gl.flushDirty()
		s.Stop()
		return false
	}
	return true
}

func (gl *genLoop) emit(nowNs, nowMs int64, raid *raidState) {
	s := gl.s
	m := &gl.meta
	gl.line = s.gen.next(gl.line[:0], nowMs, raid, m)
	s.generated.Add(1)
	if obs := s.observer.Load(); obs != nil || s.mods != nil {
		gl.rec = s.gen.record(m)
		if s.mods != nil {
			s.mods.Observe(gl.rec)
		}
		if obs != nil {
			(*obs)(&gl.rec)
		}
	}
	members := s.sims[m.ch].members()
	if len(members) == 0 {
		s.undelivered.Add(1)
	} else {
		rec := s.recPool.Get().(*msgRec)
		rec.ch = m.ch
		rec.refs.Store(1) // the generator's own reference
		for _, c := range members {
			rec.refs.Add(1)
			queued, slow := c.enqueueMsg(gl.line, m.tagLen, rec, nowNs)
			if !queued {
				rec.refs.Add(-1)
				if slow {
					go c.dropSlow("queue full for SlowTimeout")
				}
				continue
			}
			if c.dirtyEpoch != gl.epoch {
				c.dirtyEpoch = gl.epoch
				gl.dirty = append(gl.dirty, c)
			}
		}
		s.release(rec)
	}
	s.recentMu.Lock()
	s.recent[s.recentPos] = *m
	s.recentPos = (s.recentPos + 1) % len(s.recent)
	s.recentN = min(s.recentN+1, len(s.recent))
	s.recentMu.Unlock()
	if s.truth != nil {
		gl.truthBuf = s.gen.appendTruth(gl.truthBuf[:0], m)
		s.truth.write(gl.truthBuf)
		s.truthRecords.Add(1)
	}
}

func (gl *genLoop) flushDirty() {
	for i, c := range gl.dirty {
		c.signal()
		gl.dirty[i] = nil
	}
	gl.dirty = gl.dirty[:0]
}

func (gl *genLoop) startRaid(now time.Time, opts RaidOptions) {
	s, g := gl.s, gl.s.gen
	ch := int32(-1)
	if opts.Channel != "" {
		ch, _ = s.simIndex(opts.Channel)
	}
	if ch < 0 {
		ch = g.rng.Int32N(int32(len(g.channels)))
	}
	pl := g.pop.pools[PersonaRaider]
	viewers := int32(orDefault(opts.Viewers, s.cfg.RaidViewers))
	viewers = min(viewers, pl.n-1)
	dur := opts.Duration
	if dur <= 0 {
		dur = s.cfg.RaidDuration
	}
	mult := opts.Multiplier
	if mult < 1 {
		mult = s.cfg.RaidMultiplier
	}
	leader := &g.pop.users[pl.start+g.raidOff%pl.n]
	gl.raid = &raidState{ch: ch, poolOff: (g.raidOff + 1) % pl.n, viewers: viewers}
	g.raidOff = (g.raidOff + viewers + 1) % pl.n
	gl.raidStart, gl.raidUntil, gl.raidProduced = now, now.Add(dur), 0
	gl.raidRate = max((mult-1)*s.Rate()/float64(len(g.channels)), 1)

	c := &g.channels[ch]
	var id, img [36]byte
	appendUUID(id[:0], g.rng.Uint64(), g.rng.Uint64())
	appendUUID(img[:0], g.rng.Uint64(), g.rng.Uint64())
	n := strconv.Itoa(int(viewers))
	esc := string(appendEscaped(nil, leader.display))
	line := "@badge-info=;badges=;color=" + leader.color + ";display-name=" + esc + ";emotes=;flags=;id=" + string(id[:]) +
		";login=" + leader.login + ";mod=0;msg-id=raid;msg-param-displayName=" + esc + ";msg-param-login=" + leader.login +
		";msg-param-profileImageURL=https://static-cdn.jtvnw.net/jtv_user_pictures/" + string(img[:]) + "-profile_image-70x70.png" +
		";msg-param-viewerCount=" + n + ";room-id=" + c.roomID + ";subscriber=0;system-msg=" + n + `\sraiders\sfrom\s` + esc +
		`\shave\sjoined!;tmi-sent-ts=` + strconv.FormatInt(now.UnixMilli(), 10) + ";user-id=" + leader.id +
		";user-type=;vip=0 :tmi.twitch.tv USERNOTICE #" + c.name
	delivered := s.broadcast(s.sims[ch], line, true)
	s.raids.Add(1)
	s.log.Info("raid started", "channel", c.name, "viewers", viewers, "duration", dur, "extra_rate", gl.raidRate, "connections", delivered)
}

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// broadcast queues a server line to every connection joined to cs.
func (s *Server) broadcast(cs *chanState, line string, needCommands bool) int {
	n := 0
	for _, c := range cs.members() {
		if c.send(line, needCommands) {
			n++
		}
	}
	return n
}
