package stream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RawConn sends commands the caller encodes itself (RESP2) over a
// connection of its own, in one write per round trip, and reads their
// replies without keeping the data: for hot write paths (ingest's XADDs,
// decide's decision transactions) whose cost in go-redis was mostly its
// per-argument encoding and per-command objects. Replies are checked, not
// returned: a caller learns each reply's kind, integer value or error.
//
// Build a round trip with Cmd and the Arg methods, then Do it. A network
// error or a reply out of step closes the connection (the next Do dials
// again); error replies ("-ERR ...") are not connection errors. Not safe
// for concurrent use.
type RawConn struct {
	r   *respReader // the connection (dial, AUTH, SELECT) and its reader
	buf []byte      // the commands of the round trip being built
	n   int         // commands in buf
}

// NewRawConn returns a RawConn that dials opts.Addr (with opts' network,
// Dialer or TLS, username, password and DB) when first used.
func NewRawConn(opts *redis.Options) *RawConn {
	return &RawConn{r: &respReader{opts: opts}}
}

// Close drops the connection.
func (c *RawConn) Close() { c.r.close() }

// Cmd starts a command of nargs arguments (the command name included); it
// must be followed by exactly nargs Arg calls.
func (c *RawConn) Cmd(nargs int) {
	c.n++
	c.buf = append(c.buf, '*')
	c.buf = strconv.AppendInt(c.buf, int64(nargs), 10)
	c.buf = append(c.buf, '\r', '\n')
}

// Arg appends one argument.
func (c *RawConn) Arg(s string) { c.buf = appendBulk(c.buf, s) }

// ArgBytes appends one argument.
func (c *RawConn) ArgBytes(b []byte) { c.buf = appendBulk(c.buf, b) }

// appendBulk appends s as a RESP bulk string.
func appendBulk[T string | []byte](b []byte, s T) []byte {
	b = append(b, '$')
	b = strconv.AppendInt(b, int64(len(s)), 10)
	b = append(b, '\r', '\n')
	b = append(b, s...)
	return append(b, '\r', '\n')
}

// ArgInt appends an integer argument (in decimal).
func (c *RawConn) ArgInt(i int64) {
	var tmp [20]byte
	c.ArgBytes(strconv.AppendInt(tmp[:0], i, 10))
}

// XAdd starts an XADD to stream ("XADD stream [MAXLEN ~ maxLen] *", the
// trim only when maxLen > 0, as go-redis's XAddArgs with Approx); it must
// be followed by exactly nvals field and value arguments.
func (c *RawConn) XAdd(stream string, maxLen int64, nvals int) {
	if maxLen > 0 {
		c.Cmd(6 + nvals)
	} else {
		c.Cmd(3 + nvals)
	}
	c.Arg("XADD")
	c.Arg(stream)
	if maxLen > 0 {
		c.Arg("MAXLEN")
		c.Arg("~")
		c.ArgInt(maxLen)
	}
	c.Arg("*")
}

// ArgAny appends a string, *string, []byte or integer argument (the forms
// go-redis command arguments take here) as it is, and any other value as
// fmt.Sprint formats it.
func (c *RawConn) ArgAny(v any) {
	switch v := v.(type) {
	case string:
		c.Arg(v)
	case *string:
		c.Arg(*v)
	case []byte:
		c.ArgBytes(v)
	case int:
		c.ArgInt(int64(v))
	case int64:
		c.ArgInt(v)
	default:
		c.Arg(fmt.Sprint(v))
	}
}

// Queued returns the commands queued for the next Do.
func (c *RawConn) Queued() int { return c.n }

// Reset drops the queued commands.
func (c *RawConn) Reset() { c.buf, c.n = c.buf[:0], 0 }

// Reply is one reply of a round trip. Array replies are flattened: an
// array is followed by its elements (depth first).
type Reply struct {
	Kind byte  // '+' status, '-' error, ':' integer, '$' bulk string, '*' array
	Int  int64 // the integer; a bulk string's or array's length (-1: null)
	Err  error // for '-': a RawError
}

// RawError is an error reply. It is a redis.Error, so code that classifies
// go-redis errors classifies it too.
type RawError string

func (e RawError) Error() string { return string(e) }

// RedisError marks RawError as a redis.Error.
func (RawError) RedisError() {}

var _ redis.Error = RawError("")

// maxReplyDepth bounds the nesting of an array reply.
const maxReplyDepth = 8

// Do writes the queued commands in one write and reads one reply per
// command into replies[:0] (arrays flattened), within timeout and ctx (a
// cancelled ctx interrupts it). The queue is emptied whatever happens. On
// a connection error the returned replies are incomplete and it is unknown
// which commands ran.
func (c *RawConn) Do(ctx context.Context, timeout time.Duration, replies []Reply) ([]Reply, error) {
	defer c.Reset()
	replies = replies[:0]
	if c.n == 0 {
		return replies, nil
	}
	r := c.r
	if r.conn == nil {
		if err := r.dial(ctx); err != nil {
			return replies, err
		}
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn := r.conn
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(c.buf); err != nil {
		r.close()
		return replies, fmt.Errorf("write %d commands: %w", c.n, ctxErr(ctx, err))
	}
	for range c.n {
		var err error
		if replies, err = c.readReply(replies, 0); err != nil {
			r.close() // out of step
			return replies, fmt.Errorf("read replies: %w", ctxErr(ctx, err))
		}
	}
	return replies, nil
}

// readReply reads one reply, appending it (and, for an array, its elements)
// to replies.
func (c *RawConn) readReply(replies []Reply, depth int) ([]Reply, error) {
	line, err := c.r.line()
	if err != nil {
		return replies, err
	}
	if len(line) == 0 {
		return replies, errors.New("resp: empty reply line")
	}
	kind, rest := line[0], line[1:]
	switch kind {
	case '+':
		return append(replies, Reply{Kind: kind}), nil
	case '-':
		return append(replies, Reply{Kind: kind, Err: RawError(rest)}), nil
	case ':', '$', '*':
		n, ok := parseInt(rest)
		if !ok {
			return replies, fmt.Errorf("resp: bad length or integer %q", line)
		}
		replies = append(replies, Reply{Kind: kind, Int: n})
		switch {
		case kind == '$' && n >= 0:
			if _, err := c.r.br.Discard(int(n) + 2); err != nil {
				return replies, err
			}
		case kind == '*' && n > 0:
			if depth >= maxReplyDepth {
				return replies, errors.New("resp: array reply nested too deep")
			}
			for range n {
				if replies, err = c.readReply(replies, depth+1); err != nil {
					return replies, err
				}
			}
		}
		return replies, nil
	default:
		return replies, fmt.Errorf("resp: unexpected reply %q", line)
	}
}

// parseInt parses a RESP integer (an optional '-' and 1-18 digits).
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}
