package risk

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/streamsafe-rl/streamsafe/decide/internal/features"
	"github.com/streamsafe-rl/streamsafe/shared/event"
)

// chatText is realistic chat: a mention, emote names, emoji, accented and
// Cyrillic words, an allowed clip link and some shouting.
const chatText = "@Streamer_Fan no way that actually worked 😂😂 OMEGALUL Pog " +
	"qué jugada más loca, c'était incroyable, это было круто 🔥 " +
	"https://clips.twitch.tv/CrazyPlay-a1b2c3 LETS GOOOOO KEKW "

// chatSample returns about n bytes of chatText (repeated), cut at a code point.
func chatSample(n int) []byte {
	s := strings.Repeat(chatText, n/len(chatText)+1)[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return []byte(s)
}

var benchSnap = features.Snapshot{UserMsgCount: 40, UserMsgs10s: 1, UserMsgs60s: 3, FirstSeenMs: now - 3*day,
	LastMsgMs: now - 12*sec, ChanMsgs10s: 30, ChanMsgs60s: 150, DupCount60s: 2}

var sinkAction event.Action

// BenchmarkScore measures decide's whole deterministic path for one message:
// message features, the state vector, the score and the action.
func BenchmarkScore(b *testing.B) {
	p := loadBaseline(b)
	channel := []byte("71092938")
	trust := features.Trust{Subscriber: true, SubMonths: 7}
	for _, n := range []int{32, 128, 500} {
		text := chatSample(n)
		b.Run(fmt.Sprintf("len=%d", n), func(b *testing.B) {
			var m features.Message
			var v features.Vector
			b.ReportAllocs()
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				features.ComputeMessage(text, 3, 16, false, nil, p.AllowList(), p.Terms(), &m)
				features.Build(&m, trust, &benchSnap, now, &v)
				sinkAction = p.Decide(p.Score(&v, channel), channel)
			}
		})
	}
	b.Run("score_and_decide_only", func(b *testing.B) {
		v := scenarios[0].vector(p)
		b.ReportAllocs()
		for b.Loop() {
			sinkAction = p.Decide(p.Score(v, channel), channel)
		}
	})
}

// TestPipeline_Allocs guards the zero-allocation promise of the whole path,
// including the per-channel lookup by a []byte key.
func TestPipeline_Allocs(t *testing.T) {
	p := mustParse(t, policyJSON(map[string]string{"channels": `{"71092938": {"thresholds": {"warn": 0.7}}}`}))
	var m features.Message
	var v features.Vector
	for _, n := range []int{32, 500} {
		text := chatSample(n)
		for _, ch := range []string{"71092938", "other"} {
			channel := []byte(ch)
			got := testing.AllocsPerRun(100, func() {
				features.ComputeMessage(text, 3, 16, false, nil, p.AllowList(), p.Terms(), &m)
				features.Build(&m, features.Trust{}, &benchSnap, now, &v)
				sinkAction = p.Decide(p.Score(&v, channel), channel)
			})
			if got != 0 {
				t.Errorf("len=%d channel %s: allocs = %v, want 0", n, ch, got)
			}
		}
	}
}
