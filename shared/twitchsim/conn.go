package twitchsim

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Capability bits negotiated with CAP REQ.
const (
	capTags uint32 = 1 << iota
	capCommands
	capMembership
)

// killMode is how the writer must end a connection.
type killMode uint8

const (
	killNone     killMode = iota
	killGraceful          // flush the queue, then close (RECONNECT grace over, QUIT, auth failure)
	killMidline           // write half a line, then close
)

// pendingRec ties a queued PRIVMSG to its accounting record; end is the
// offset just past its line in the queue.
type pendingRec struct {
	rec *msgRec
	end int32
}

// conn is one client connection over TCP or WebSocket. Its reader goroutine
// handles client commands; its writer goroutine drains the outbound queue,
// packing everything queued into one write (TCP) or frames of up to
// MaxFrameBytes (WebSocket).
type conn struct {
	s         *Server
	id        uint64
	transport string // "tcp" or "ws"
	remote    string
	nc        net.Conn
	ws        *websocket.Conn // nil for TCP
	created   time.Time

	caps     atomic.Uint32
	nick     atomic.Pointer[string]
	regAt    atomic.Int64 // unix ns of successful registration, 0 before
	lastPing atomic.Int64 // unix ns of the last server PING
	pingOut  atomic.Int64 // unix ns of an unanswered server PING, 0 if none
	reconnAt atomic.Int64 // unix ns at which the RECONNECT grace ends, 0 if none

	wake      chan struct{}
	dead      chan struct{}
	closeOnce sync.Once

	// mu guards the outbound queue and the closing state.
	mu        sync.Mutex
	q         []byte
	qEnds     []int32
	qRecs     []pendingRec
	fullSince int64 // unix ns when the queue first rejected a line, 0 if not full
	closing   bool  // no more lines are accepted
	kill      killMode

	// chans is guarded by s.mu.
	chans map[string]*chanState

	dirtyEpoch uint64 // owned by the generator goroutine

	linesWritten    atomic.Uint64
	privmsgsWritten atomic.Uint64
	droppedSlow     atomic.Uint64
	slowDropped     atomic.Bool
}

func (c *conn) hasCap(bit uint32) bool { return c.caps.Load()&bit != 0 }

func (c *conn) nickname() string {
	if p := c.nick.Load(); p != nil {
		return *p
	}
	return ""
}

// signal wakes the writer without blocking.
func (c *conn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// enqueueMsg queues a generated PRIVMSG line (ending in CRLF). It reports
// whether the line was queued and whether the connection has been too slow
// for too long and must be dropped.
func (c *conn) enqueueMsg(line []byte, tagLen int32, rec *msgRec, nowNs int64) (queued, slow bool) {
	if !c.hasCap(capTags) {
		line = line[tagLen:]
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false, false
	}
	if len(c.q)+len(line) > c.s.cfg.QueueBytes {
		if c.fullSince == 0 {
			c.fullSince = nowNs
		} else if nowNs-c.fullSince > int64(c.s.cfg.SlowTimeout) {
			slow = true
		}
		c.mu.Unlock()
		c.droppedSlow.Add(1)
		c.s.droppedSlow.Add(1)
		return false, slow
	}
	c.q = append(c.q, line...)
	end := int32(len(c.q))
	c.qEnds = append(c.qEnds, end)
	c.qRecs = append(c.qRecs, pendingRec{rec, end})
	c.mu.Unlock()
	return true, false
}

// send queues a server line (without CRLF) and wakes the writer. Lines that
// need the twitch.tv/commands capability are skipped for clients without
// it; tags are stripped for clients without twitch.tv/tags. Control lines
// may exceed QueueBytes up to twice its size.
func (c *conn) send(line string, needCommands bool) bool {
	if needCommands && !c.hasCap(capCommands) {
		return false
	}
	if len(line) > 0 && line[0] == '@' && !c.hasCap(capTags) {
		for i := 0; i < len(line); i++ {
			if line[i] == ' ' {
				line = line[i+1:]
				break
			}
		}
	}
	c.mu.Lock()
	if c.closing || len(c.q)+len(line)+2 > 2*c.s.cfg.QueueBytes {
		c.mu.Unlock()
		return false
	}
	c.q = append(c.q, line...)
	c.q = append(c.q, '\r', '\n')
	c.qEnds = append(c.qEnds, int32(len(c.q)))
	c.mu.Unlock()
	c.signal()
	return true
}

// closeAfterFlush stops accepting lines, lets the writer flush the queue and
// then closes the connection.
func (c *conn) closeAfterFlush(mode killMode) {
	c.s.unsubscribeAll(c)
	c.mu.Lock()
	c.closing = true
	if c.kill == killNone {
		c.kill = mode
	}
	c.mu.Unlock()
	c.signal()
}

// writeLoop is the only goroutine that writes to the socket.
func (c *conn) writeLoop() {
	defer c.s.wg.Done()
	var (
		buf  []byte
		ends []int32
		recs []pendingRec
	)
	for {
		select {
		case <-c.wake:
		case <-c.dead:
			return
		}
		c.mu.Lock()
		buf, c.q = c.q, buf[:0]
		ends, c.qEnds = c.qEnds, ends[:0]
		recs, c.qRecs = c.qRecs, recs[:0]
		c.fullSince = 0
		kill := c.kill
		c.mu.Unlock()

		if kill == killMidline {
			c.writeHalfLine(buf, ends)
			c.settle(recs, 0)
			c.shutdown("forced disconnect mid-line")
			return
		}
		if len(buf) > 0 {
			n, err := c.writeBatch(buf, ends)
			c.settle(recs, n)
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					c.dropSlow("write blocked for SlowTimeout")
				} else {
					c.shutdown("write: " + err.Error())
				}
				return
			}
		}
		if kill == killGraceful {
			if c.ws != nil {
				msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
				_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
			}
			c.shutdown("closed by server")
			return
		}
	}
}

// writeBatch writes buf and returns how many leading bytes were written
// successfully.
func (c *conn) writeBatch(buf []byte, ends []int32) (int, error) {
	deadline := time.Now().Add(c.s.cfg.SlowTimeout)
	if c.ws == nil {
		_ = c.nc.SetWriteDeadline(deadline)
		n, err := c.nc.Write(buf)
		c.linesWritten.Add(uint64(countEnds(ends, n)))
		return n, err
	}
	_ = c.ws.SetWriteDeadline(deadline)
	maxFrame := int32(c.s.cfg.MaxFrameBytes)
	start := int32(0)
	for i := 0; i < len(ends); {
		end := ends[i]
		i++
		for i < len(ends) && ends[i]-start <= maxFrame {
			end = ends[i]
			i++
		}
		if err := c.ws.WriteMessage(websocket.TextMessage, buf[start:end]); err != nil {
			return int(start), err
		}
		start = end
	}
	c.linesWritten.Add(uint64(len(ends)))
	return int(start), nil
}

func countEnds(ends []int32, n int) int {
	k := 0
	for _, e := range ends {
		if int(e) <= n {
			k++
		}
	}
	return k
}

// writeHalfLine writes the first half of the first queued line (or of a
// PING line when nothing is queued).
func (c *conn) writeHalfLine(buf []byte, ends []int32) {
	line := []byte("PING :tmi.twitch.tv\r\n")
	if len(ends) > 0 {
		line = buf[:ends[0]]
	}
	half := line[:len(line)/2]
	deadline := time.Now().Add(time.Second)
	if c.ws == nil {
		_ = c.nc.SetWriteDeadline(deadline)
		_, _ = c.nc.Write(half)
		return
	}
	_ = c.ws.SetWriteDeadline(deadline)
	_ = c.ws.WriteMessage(websocket.TextMessage, half)
}

// settle marks the records whose lines were fully written as delivered and
// releases all of them.
func (c *conn) settle(recs []pendingRec, written int) {
	for i := range recs {
		if int(recs[i].end) <= written {
			c.s.markDelivered(recs[i].rec)
			c.privmsgsWritten.Add(1)
		}
		c.s.release(recs[i].rec)
		recs[i].rec = nil
	}
}

// shutdown closes the connection at once; queued lines are discarded.
func (c *conn) shutdown(reason string) {
	c.closeOnce.Do(func() {
		c.s.removeConn(c)
		c.mu.Lock()
		c.closing = true
		recs := c.qRecs
		c.q, c.qEnds, c.qRecs = nil, nil, nil
		c.mu.Unlock()
		c.settle(recs, 0)
		close(c.dead)
		_ = c.nc.Close()
		c.s.log.Debug("connection closed", "conn", c.id, "nick", c.nickname(), "transport", c.transport, "reason", reason)
	})
}
