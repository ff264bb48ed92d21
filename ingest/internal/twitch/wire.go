package twitch

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/streamsafe-rl/streamsafe/ingest/internal/irc"
)

// readStatus says what a wire read produced.
type readStatus uint8

const (
	statusLine       readStatus = iota // a complete line
	statusOversize                     // a line over the limit, discarded; cmd classifies its head
	statusTruncated                    // the connection ended mid-line; line holds the partial bytes
	statusEmptyFrame                   // a WebSocket frame without any line
)

// read is one result of wire.read. line is valid until the next read.
type read struct {
	status readStatus
	line   []byte
	cmd    irc.Command // statusOversize only
}

// wire is one transport connection carrying IRC lines.
type wire interface {
	// read returns the next line or event. An error ends the connection.
	read() (read, error)
	// buffered reports whether more input is already buffered, so the
	// caller may keep batching without blocking.
	buffered() bool
	// writeLine writes one IRC line (without CRLF).
	writeLine(p []byte, deadline time.Time) error
	// closeGraceful starts a clean close: a WebSocket close frame, or a TCP
	// half-close. Reading continues until the server closes its side.
	closeGraceful(deadline time.Time)
	// close closes the connection at once.
	close() error
}

// lineReader reads bounded lines from a bufio.Reader whose buffer is just
// larger than the line limit, so an over-long line is skipped without any
// buffer growing.
type lineReader struct {
	br  *bufio.Reader
	max int
}

func newLineReader(r io.Reader, maxLen int) lineReader {
	// +2 for CRLF; bufio's minimum is 16.
	return lineReader{br: bufio.NewReaderSize(r, maxLen+2), max: maxLen}
}

// next returns the next non-empty line without its terminator. At the end
// of the input with bytes pending but no newline, it returns those bytes
// with statusTruncated together with the reader's error (io.EOF or another);
// the caller decides whether that ends a line (a WebSocket frame end) or
// truncates it. Otherwise err is the reader's error with nothing pending.
func (lr *lineReader) next() (read, error) {
	for {
		b, err := lr.br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			cmd := irc.CommandOf(b)
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = lr.br.ReadSlice('\n')
			}
			// Any error now (EOF, connection reset) surfaces on the next call.
			return read{status: statusOversize, cmd: cmd}, nil
		}
		if err != nil {
			b = trimCR(b)
			if len(b) == 0 {
				return read{}, err
			}
			if len(b) > lr.max {
				return read{status: statusOversize, cmd: irc.CommandOf(b)}, err
			}
			return read{status: statusTruncated, line: b}, err
		}
		b = trimCR(b[:len(b)-1])
		if len(b) == 0 {
			continue
		}
		if len(b) > lr.max {
			return read{status: statusOversize, cmd: irc.CommandOf(b)}, nil
		}
		return read{status: statusLine, line: b}, nil
	}
}

// hasLine reports whether a complete line is buffered, so that the next
// call to next will not block. The scan stops at the first newline, so each
// byte is looked at about twice in total.
func (lr *lineReader) hasLine() bool {
	n := lr.br.Buffered()
	if n == 0 {
		return false
	}
	p, _ := lr.br.Peek(n)
	return bytes.IndexByte(p, '\n') >= 0
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// tcpWire is IRC over a TCP (or TLS) stream.
type tcpWire struct {
	c       net.Conn
	lr      lineReader
	pending error // error to return after a truncated line
}

func (w *tcpWire) read() (read, error) {
	if w.pending != nil {
		return read{}, w.pending
	}
	r, err := w.lr.next()
	if err != nil && r.status != statusLine {
		if r.status == statusTruncated || r.status == statusOversize {
			w.pending = err
			return r, nil
		}
	}
	return r, err
}

func (w *tcpWire) buffered() bool { return w.lr.hasLine() }

func (w *tcpWire) writeLine(p []byte, deadline time.Time) error {
	_ = w.c.SetWriteDeadline(deadline)
	buf := make([]byte, 0, len(p)+2)
	buf = append(append(buf, p...), '\r', '\n')
	_, err := w.c.Write(buf)
	return err
}

func (w *tcpWire) closeGraceful(deadline time.Time) {
	type closeWriter interface{ CloseWrite() error }
	if cw, ok := w.c.(closeWriter); ok {
		_ = w.c.SetWriteDeadline(deadline)
		if cw.CloseWrite() == nil {
			return
		}
	}
	_ = w.c.Close()
}

func (w *tcpWire) close() error { return w.c.Close() }

// wsWire is IRC over WebSocket text frames; one frame may carry several
// CRLF-separated lines, and the end of a frame ends a line.
type wsWire struct {
	c       *websocket.Conn
	lr      lineReader
	inFrame bool
	nFrame  int   // lines (of any status) read from the current frame
	pending error // error to return after a truncated line
}

func (w *wsWire) read() (read, error) {
	if w.pending != nil {
		return read{}, w.pending
	}
	for {
		if !w.inFrame {
			_, r, err := w.c.NextReader()
			if err != nil {
				return read{}, err
			}
			w.lr.br.Reset(r)
			w.inFrame, w.nFrame = true, 0
		}
		r, err := w.lr.next()
		switch {
		case err == nil:
			w.nFrame++
			return r, nil
		case errors.Is(err, io.EOF):
			// End of frame: whatever was pending is a complete line.
			w.inFrame = false
			if r.status == statusTruncated {
				r.status = statusLine
			}
			if r.line != nil || r.status == statusOversize {
				w.nFrame++
				return r, nil
			}
			if w.nFrame == 0 {
				return read{status: statusEmptyFrame}, nil
			}
		default:
			// The connection failed inside a frame.
			if r.status == statusTruncated || r.status == statusOversize {
				w.pending = err
				return r, nil
			}
			return read{}, err
		}
	}
}

func (w *wsWire) buffered() bool { return w.inFrame && w.lr.hasLine() }

func (w *wsWire) writeLine(p []byte, deadline time.Time) error {
	_ = w.c.SetWriteDeadline(deadline)
	buf := make([]byte, 0, len(p)+2)
	buf = append(append(buf, p...), '\r', '\n')
	return w.c.WriteMessage(websocket.TextMessage, buf)
}

func (w *wsWire) closeGraceful(deadline time.Time) {
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	if err := w.c.WriteControl(websocket.CloseMessage, msg, deadline); err != nil {
		_ = w.c.Close()
	}
}

func (w *wsWire) close() error { return w.c.Close() }

// isCleanClose reports whether err is how a connection normally ends: EOF,
// or a WebSocket close frame.
func isCleanClose(err error) bool {
	var ce *websocket.CloseError
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ce)
}

// dial opens a wire to rawURL: ws://, wss://, irc://host:port (TCP) or
// ircs://host:port (TLS). IRC URLs without a port use 6667 and 6697.
func dial(ctx context.Context, rawURL string, maxLine int, tlsConf *tls.Config) (wire, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse twitch url: %w", err)
	}
	nd := &net.Dialer{KeepAlive: 30 * time.Second}
	switch strings.ToLower(u.Scheme) {
	case "ws", "wss":
		d := websocket.Dialer{
			NetDialContext:  nd.DialContext,
			TLSClientConfig: tlsConf,
			ReadBufferSize:  64 << 10,
			WriteBufferSize: 1 << 10,
		}
		if dl, ok := ctx.Deadline(); ok {
			d.HandshakeTimeout = time.Until(dl)
		}
		c, resp, err := d.DialContext(ctx, u.String(), nil)
		if resp != nil && resp.Body != nil {
			_ = resp.Body.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", u.Redacted(), err)
		}
		w := &wsWire{c: c}
		w.lr = newLineReader(nil, maxLine)
		return w, nil
	case "irc", "ircs":
		host := u.Host
		if u.Port() == "" {
			port := "6667"
			if u.Scheme == "ircs" {
				port = "6697"
			}
			host = net.JoinHostPort(u.Hostname(), port)
		}
		var c net.Conn
		if u.Scheme == "ircs" {
			conf := tlsConf.Clone()
			if conf == nil {
				conf = &tls.Config{}
			}
			if conf.ServerName == "" {
				conf.ServerName = u.Hostname()
			}
			c, err = (&tls.Dialer{NetDialer: nd, Config: conf}).DialContext(ctx, "tcp", host)
		} else {
			c, err = nd.DialContext(ctx, "tcp", host)
		}
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", u.Redacted(), err)
		}
		return &tcpWire{c: c, lr: newLineReader(c, maxLine)}, nil
	}
	return nil, fmt.Errorf("dial %s: unsupported scheme %q (want ws, wss, irc or ircs)", u.Redacted(), u.Scheme)
}
