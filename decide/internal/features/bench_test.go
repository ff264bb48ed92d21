package features

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// benchText is realistic chat: a mention, emote names, emoji, accented words,
// a clip link and some shouting.
const benchText = "@xQcOW that was actually insane 🔥🔥 no way he hit that shot KEKW PogChamp " +
	"c'est incroyable, qué locura jajaja 😂 https://clips.twitch.tv/FunnyClipName-abc123 LETS GOOOO "

// sampleText returns about n bytes of benchText (repeated), cut at a code point.
func sampleText(n int) []byte {
	s := strings.Repeat(benchText, n/len(benchText)+1)[:n]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return []byte(s)
}

// benchLists compiles the lists used by the benchmarks and allocation guards.
func benchLists(tb testing.TB) (*LinkAllowList, *BlockedTerms) {
	tb.Helper()
	allow, err := NewLinkAllowList([]string{"clips.twitch.tv", "youtube.com", "youtu.be"})
	if err != nil {
		tb.Fatal(err)
	}
	terms, err := NewBlockedTerms([]string{"idiot", "moron", "loser", "kys", "kill yourself", "stfu", "dumbass"})
	if err != nil {
		tb.Fatal(err)
	}
	return allow, terms
}

func BenchmarkFeatures(b *testing.B) {
	allow, terms := benchLists(b)
	snap := Snapshot{UserMsgCount: 40, UserMsgs10s: 1, UserMsgs60s: 3, FirstSeenMs: 1_700_000_000_000,
		LastMsgMs: 1_700_000_090_000, ChanMsgs10s: 30, ChanMsgs60s: 150, DupCount60s: 2}
	for _, n := range []int{32, 128, 500} {
		text := sampleText(n)
		b.Run(fmt.Sprintf("len=%d", n), func(b *testing.B) {
			var m Message
			var v Vector
			b.ReportAllocs()
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				ComputeMessage(text, 2, 13, false, nil, allow, terms, &m)
				Build(&m, Trust{Subscriber: true, SubMonths: 7}, &snap, 1_700_000_100_000, &v)
			}
		})
	}
}
