package stream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// respReader reads stream entries with XREADGROUP over a connection of its
// own, parsing the RESP2 reply itself: every bulk string of a reply lands
// in one buffer that becomes one string, and the entries' fields are
// substrings of it. go-redis allocates and copies every field name and
// value and boxes every value; for entries of ~30 fields that parsing cost
// more than everything else a consumer did with them (FastReads).
type respReader struct {
	opts *redis.Options

	mu   sync.Mutex // one command at a time (the prefetch and the worker share a reader)
	conn net.Conn
	br   *bufio.Reader
	wbuf []byte
	slab []byte // bulk-string bytes of the reply being read
	offs []int  // end offset in slab of each bulk string
}

// errNilReply is the null reply of a BLOCK that timed out.
var errNilReply = redis.Nil

func newRESPReader(opts *redis.Options) *respReader {
	return &respReader{opts: opts, slab: make([]byte, 0, 1<<20)}
}

// close drops the connection (the next read dials again).
func (r *respReader) close() {
	if r.conn != nil {
		_ = r.conn.Close()
		r.conn, r.br = nil, nil
	}
}

func (r *respReader) dial(ctx context.Context) error {
	d := net.Dialer{Timeout: r.opts.DialTimeout}
	if d.Timeout <= 0 {
		d.Timeout = 5 * time.Second
	}
	var conn net.Conn
	var err error
	network := r.opts.Network
	if network == "" {
		network = "tcp"
	}
	switch {
	case r.opts.Dialer != nil: // as go-redis: the caller's dialer (it does TLS itself)
		conn, err = r.opts.Dialer(ctx, network, r.opts.Addr)
	case r.opts.TLSConfig != nil:
		td := tls.Dialer{NetDialer: &d, Config: r.opts.TLSConfig}
		conn, err = td.DialContext(ctx, network, r.opts.Addr)
	default:
		conn, err = d.DialContext(ctx, network, r.opts.Addr)
	}
	if err != nil {
		return fmt.Errorf("dial %s: %w", r.opts.Addr, err)
	}
	r.conn, r.br = conn, bufio.NewReaderSize(conn, 256<<10)
	if r.opts.Password != "" {
		args := []string{"AUTH", r.opts.Password}
		if r.opts.Username != "" {
			args = []string{"AUTH", r.opts.Username, r.opts.Password}
		}
		if err := r.simple(args...); err != nil {
			r.close()
			return fmt.Errorf("auth: %w", err)
		}
	}
	if r.opts.DB != 0 {
		if err := r.simple("SELECT", strconv.Itoa(r.opts.DB)); err != nil {
			r.close()
			return fmt.Errorf("select %d: %w", r.opts.DB, err)
		}
	}
	return nil
}

// simple sends a command whose reply is a status or an error.
func (r *respReader) simple(args ...string) error {
	_ = r.conn.SetDeadline(time.Now().Add(max(r.opts.ReadTimeout, time.Second)))
	if err := r.write(args...); err != nil {
		return err
	}
	line, err := r.line()
	if err != nil {
		return err
	}
	if len(line) > 0 && line[0] == '-' {
		return errors.New(string(line[1:]))
	}
	return nil
}

func (r *respReader) write(args ...string) error {
	b := r.wbuf[:0]
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = appendBulk(b, a)
	}
	r.wbuf = b
	_, err := r.conn.Write(b)
	return err
}

// line reads one line without its CRLF (valid until the next read).
func (r *respReader) line() ([]byte, error) {
	l, err := r.br.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if len(l) < 2 || l[len(l)-2] != '\r' {
		return nil, fmt.Errorf("resp: malformed line %q", l)
	}
	return l[:len(l)-2], nil
}

// xreadgroupFields runs XREADGROUP GROUP group consumer COUNT count [BLOCK ms]
// STREAMS stream id and returns the entries of stream. An entry whose
// payload was deleted (trimmed while pending) has nil Values. The call is
// bounded by timeout and by ctx (which closes the connection when done).
// With flat set it builds no Values maps and returns each entry's
// field/value pairs in fields instead (nil for an entry whose payload was
// deleted).
func (r *respReader) xreadgroupFields(ctx context.Context, group, consumer, stream, id string, count int64, block, timeout time.Duration, flat bool) ([]redis.XMessage, [][]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conn == nil {
		if err := r.dial(ctx); err != nil {
			return nil, nil, err
		}
	}
	args := []string{"XREADGROUP", "GROUP", group, consumer, "COUNT", strconv.FormatInt(count, 10)}
	if block >= 0 {
		args = append(args, "BLOCK", strconv.FormatInt(block.Milliseconds(), 10))
	}
	args = append(args, "STREAMS", stream, id)
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = r.conn.SetDeadline(deadline)
	// A cancelled ctx interrupts the read at once.
	conn := r.conn
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := r.write(args...); err != nil {
		r.close()
		return nil, nil, fmt.Errorf("write xreadgroup: %w", ctxErr(ctx, err))
	}
	msgs, fields, err := r.readReply(stream, flat)
	if err != nil {
		var re redisError
		if !errors.As(err, &re) && !errors.Is(err, errNilReply) {
			r.close() // the connection is out of step
			err = ctxErr(ctx, err)
		}
		return nil, nil, err
	}
	return msgs, fields, nil
}

// redisError is an error reply ("-ERR ...", "-NOGROUP ...").
type redisError string

func (e redisError) Error() string { return string(e) }

func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%w)", ctx.Err(), err)
	}
	return err
}

// readReply parses an XREADGROUP reply: null, or an array of [stream,
// entries] pairs, each entry [id, [field, value, ...] or null].
func (r *respReader) readReply(stream string, flat bool) ([]redis.XMessage, [][]string, error) {
	r.slab, r.offs = r.slab[:0], r.offs[:0]
	n, err := r.arrayLen()
	if err != nil || n < 0 {
		if err == nil {
			err = errNilReply
		}
		return nil, nil, err
	}
	type entryPos struct {
		id      int // index in offs of the ID
		fields  int // index in offs of the first field
		nfields int // -1: payload deleted
	}
	var pos []entryPos
	var want = -1 // entries of the stream asked for
	for s := 0; s < n; s++ {
		if k, err := r.arrayLen(); err != nil || k != 2 {
			return nil, nil, fmt.Errorf("resp: stream reply: want a pair, got %d (%v)", k, err)
		}
		nameIdx := len(r.offs)
		if err := r.bulk(); err != nil {
			return nil, nil, err
		}
		ne, err := r.arrayLen()
		if err != nil {
			return nil, nil, err
		}
		mine := r.bulkString(nameIdx) == stream
		if mine {
			want = len(pos)
		}
		for e := 0; e < ne; e++ {
			if k, err := r.arrayLen(); err != nil || k != 2 {
				return nil, nil, fmt.Errorf("resp: entry: want a pair, got %d (%v)", k, err)
			}
			p := entryPos{id: len(r.offs)}
			if err := r.bulk(); err != nil {
				return nil, nil, err
			}
			nf, err := r.arrayLen()
			if err != nil {
				return nil, nil, err
			}
			p.fields, p.nfields = len(r.offs), nf
			for f := 0; f < nf; f++ {
				if err := r.bulk(); err != nil {
					return nil, nil, err
				}
			}
			if mine {
				pos = append(pos, p)
			}
		}
	}
	if want < 0 {
		return nil, nil, nil
	}
	// One string for the whole reply; every ID, name and value is a slice
	// of it.
	all := string(r.slab)
	str := func(i int) string {
		start := 0
		if i > 0 {
			start = r.offs[i-1]
		}
		return all[start:r.offs[i]]
	}
	msgs := make([]redis.XMessage, len(pos))
	var fields [][]string
	var flatAll []string
	if flat {
		fields = make([][]string, len(pos))
		total := 0
		for _, p := range pos {
			total += max(p.nfields, 0)
		}
		flatAll = make([]string, 0, total)
	}
	for i, p := range pos {
		msgs[i].ID = str(p.id)
		if p.nfields < 0 {
			continue // deleted payload: Values (and fields) stay nil
		}
		if flat {
			start := len(flatAll)
			for f := 0; f < p.nfields; f++ {
				flatAll = append(flatAll, str(p.fields+f))
			}
			fields[i] = flatAll[start:len(flatAll):len(flatAll)]
			continue
		}
		vals := make(map[string]any, p.nfields/2)
		for f := 0; f+1 < p.nfields; f += 2 {
			vals[str(p.fields+f)] = str(p.fields + f + 1)
		}
		msgs[i].Values = vals
	}
	return msgs, fields, nil
}

// bulkString returns bulk string i of the reply read so far (allocates;
// for the few strings needed while parsing).
func (r *respReader) bulkString(i int) string {
	start := 0
	if i > 0 {
		start = r.offs[i-1]
	}
	return string(r.slab[start:r.offs[i]])
}

// arrayLen reads an array header ("*n"; -1 for a null array or a null
// bulk string) or an error reply.
func (r *respReader) arrayLen() (int, error) {
	l, err := r.line()
	if err != nil {
		return 0, err
	}
	if len(l) == 0 {
		return 0, errors.New("resp: empty line")
	}
	switch l[0] {
	case '*', '$':
		n, err := strconv.Atoi(string(l[1:]))
		if err != nil || (l[0] == '$' && n != -1) {
			return 0, fmt.Errorf("resp: bad header %q", l)
		}
		return n, nil
	case '-':
		return 0, redisError(string(l[1:]))
	}
	return 0, fmt.Errorf("resp: want an array, got %q", l)
}

// bulk reads a bulk string into the slab and records its end.
func (r *respReader) bulk() error {
	l, err := r.line()
	if err != nil {
		return err
	}
	if len(l) == 0 || l[0] != '$' {
		return fmt.Errorf("resp: want a bulk string, got %q", l)
	}
	n, err := strconv.Atoi(string(l[1:]))
	if err != nil || n < 0 {
		return fmt.Errorf("resp: bad bulk length %q", l)
	}
	start := len(r.slab)
	r.slab = append(r.slab, make([]byte, n+2)...)
	if _, err := io.ReadFull(r.br, r.slab[start:]); err != nil {
		return err
	}
	r.slab = r.slab[:start+n] // drop the CRLF
	r.offs = append(r.offs, len(r.slab))
	return nil
}
