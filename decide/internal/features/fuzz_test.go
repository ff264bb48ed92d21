package features

import (
	"bytes"
	"math"
	"testing"
	"unicode/utf8"
)

func FuzzComputeMessage(f *testing.F) {
	allow, terms := benchLists(f)
	for _, s := range []string{"", "hello", "u r a n i d i o t", "@bob https://clips.twitch.tv/x LOOOL",
		"ḩ̴̛̺̬̈́e̷̢̛͚̙̍l̴̨̛̬̈́", "⣿⣿⣿ ▓▓", "ＩＤＩＯＴ 𝐢𝐝𝐢𝐨𝐭", "a\xffb\xc3", "🔥a🔥a🔥", "x.y.z a.b.com"} {
		f.Add([]byte(s), 1, 3, false, []byte(""))
	}
	f.Add([]byte("@SomeUser k y s"), 0, 0, true, []byte("SomeUser"))
	f.Fuzz(func(t *testing.T, text []byte, emoteCount, emoteChars int, isReply bool, parent []byte) {
		m := new(Message)
		ComputeMessage(text, emoteCount, emoteChars, isReply, parent, allow, terms, m)
		ratios := map[string]float32{"caps": m.CapsRatio, "symbol": m.SymbolRatio, "repeat": m.RepeatRatio,
			"emote": m.EmoteRatio, "zalgo": m.ZalgoRatio, "art": m.ArtRatio, "obfuscation": m.ObfuscationRatio}
		for name, r := range ratios {
			if !(r >= 0 && r <= 1) {
				t.Errorf("%s ratio = %v, want in [0, 1]", name, r)
			}
		}
		if m.Runes > utf8.RuneCount(text) || m.LongestRun > m.Runes || m.AllowedLinks > m.Links ||
			m.Upper+m.Lower > m.Letters || m.TermHits < 0 || (m.TermHits == 0) != (m.FirstTerm == -1) {
			t.Errorf("inconsistent counts: %s", summary(m))
		}
		norm := m.Normalized()
		if !utf8.Valid(norm) || bytes.HasPrefix(norm, []byte(" ")) || bytes.HasSuffix(norm, []byte(" ")) ||
			bytes.Contains(norm, []byte("  ")) {
			t.Errorf("Normalized() = %q: want valid UTF-8 without leading, trailing or double spaces", norm)
		}
		// The hot path must agree with the general one.
		slow := new(Message)
		computeMessage(text, emoteCount, emoteChars, isReply, parent, allow, terms, slow, true)
		if !equalMessages(m, slow) {
			t.Errorf("hot and slow paths differ:\n got %s\nwant %s", summary(m), summary(slow))
		}
		var v Vector
		Build(m, Trust{SubMonths: int32(emoteCount)}, &Snapshot{UserMsgCount: int64(emoteChars), FirstSeenMs: int64(emoteCount)},
			int64(emoteChars), &v)
		for i, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Errorf("v[%s] = %v, want finite", Names[i], x)
			}
		}
	})
}
