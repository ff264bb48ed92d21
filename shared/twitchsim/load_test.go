package twitchsim

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestServer_SustainedRate checks that the simulator sustains a high rate
// (default 60,000 msg/s over 100 channels) while one client consumes every
// line. It saturates both cores for a few seconds, so it only runs with
// TWITCHSIM_LOAD=1 (TWITCHSIM_LOAD_RATE overrides the rate).
func TestServer_SustainedRate(t *testing.T) {
	if os.Getenv("TWITCHSIM_LOAD") == "" {
		t.Skip("set TWITCHSIM_LOAD=1 to run the load test")
	}
	rate := 60000.0
	if v := os.Getenv("TWITCHSIM_LOAD_RATE"); v != "" {
		var err error
		if rate, err = strconv.ParseFloat(v, 64); err != nil {
			t.Fatal(err)
		}
	}
	const channels = 100
	const window = 3 * time.Second
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			s := startServer(t, func(c *Config) {
				c.Rate, c.Channels, c.StartPaused, c.JoinLimit, c.Tick = rate, channels, true, 0, 2*time.Millisecond
			})
			var names []string
			for i := range channels {
				names = append(names, "#"+channelName(i))
			}
			hello := "CAP REQ :" + allCaps + "\r\nNICK loadbot\r\nJOIN " + strings.Join(names, ",") + "\r\n"
			var lines atomic.Int64
			var r io.Reader
			switch tr {
			case "tcp":
				nc, err := net.Dial("tcp", s.TCPAddr())
				if err != nil {
					t.Fatal(err)
				}
				defer nc.Close()
				if _, err := nc.Write([]byte(hello)); err != nil {
					t.Fatal(err)
				}
				r = nc
			case "ws":
				ws, _, err := websocket.DefaultDialer.Dial(s.WSURL(), nil)
				if err != nil {
					t.Fatal(err)
				}
				defer ws.Close()
				for _, l := range strings.Split(strings.TrimSpace(hello), "\r\n") {
					if err := ws.WriteMessage(websocket.TextMessage, []byte(l)); err != nil {
						t.Fatal(err)
					}
				}
				pr, pw := io.Pipe()
				defer pr.Close()
				go func() {
					for {
						_, fr, err := ws.NextReader()
						if err != nil {
							pw.CloseWithError(err)
							return
						}
						if _, err := io.Copy(pw, fr); err != nil {
							return
						}
					}
				}()
				r = pr
			}
			go func() {
				br := bufio.NewReaderSize(r, 256<<10)
				for {
					line, err := br.ReadSlice('\n')
					if bytes.Contains(line, []byte(" PRIVMSG #")) {
						lines.Add(1)
					}
					if err != nil && err != bufio.ErrBufferFull {
						return
					}
				}
			}()
			eventually(t, "all channels joined", 5*time.Second, func() bool { return len(s.Stats().ClientsJoined) == channels })
			s.Resume()
			time.Sleep(500 * time.Millisecond)
			g0, r0, t0 := s.Stats().Generated, lines.Load(), time.Now()
			time.Sleep(window)
			st, r1, t1 := s.Stats(), lines.Load(), time.Now()
			secs := t1.Sub(t0).Seconds()
			gen, recv := float64(st.Generated-g0)/secs, float64(r1-r0)/secs
			t.Logf("%s: target %.0f msg/s, generated %.0f msg/s, client received %.0f msg/s, lag_skipped %d, dropped_slow %d",
				tr, rate, gen, recv, st.LagSkipped, st.DroppedSlow)
			s.Stop()
			st = waitSettled(t, s)
			eventually(t, "client caught up", 5*time.Second, func() bool { return uint64(lines.Load()) >= st.Sent })
			equal(t, "client PRIVMSGs == sent", uint64(lines.Load()), st.Sent)
			if gen < rate*0.95 || recv < rate*0.95 {
				t.Errorf("generated %.0f and received %.0f msg/s, want >= 95%% of %.0f", gen, recv, rate)
			}
			equal(t, "dropped", st.Dropped, uint64(0))
		})
	}
}
