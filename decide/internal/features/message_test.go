package features

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// compute runs ComputeMessage with the benchmark lists on a plain message.
func compute(t *testing.T, text string) *Message {
	t.Helper()
	allow, terms := benchLists(t)
	m := new(Message)
	ComputeMessage([]byte(text), 0, 0, false, nil, allow, terms, m)
	return m
}

func TestComputeMessage_Normalized(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "Hello World", "helo world"},
		{"punctuation_is_one_space", "wait... what?!  ok", "wait what ok"},
		{"leetspeak", "1d10t h3ll0 $t@r 4 7", "1d1ot helo star at"},
		{"diacritics_precomposed", "Ångström café naïve Łódź", "angstrom cafe naive lodz"},
		{"diacritics_combining", "e\u0301te\u0301", "ete"},
		{"cyrillic_greek_lookalikes", "іdіοt рауρаl", "idiot paypal"},
		{"fullwidth", "ＩＤＩＯＴ", "idiot"},
		{"math_bold", "𝐢𝐝𝐢𝐨𝐭", "idiot"},
		{"circled", "ⓘⓓⓘⓞⓣ", "idiot"},
		{"small_caps", "ɪᴅɪᴏᴛ", "idiot"},
		{"zero_width_inside_word", "id\u200biot lo\u00adser", "idiot loser"},
		{"repeats_collapse", "LOOOOOL nooooo", "lol no"},
		{"spaced_letters_dots", "i.d.i.o.t", "idiot"},
		{"spaced_letters_spaces", "you are a l o s e r", "you are aloser"},
		{"single_letter_not_joined_to_word", "a idiot", "a idiot"},
		{"mention_and_link_removed", "@bob look https://x.com/a now", "lok now"},
		{"link_breaks_letter_join", "k https://x.com y s", "k ys"},
		{"symbols_kept_once", "🔥🔥🔥 ok 🔥", "🔥 ok 🔥"},
		{"symbol_splits_words", "a🔥b", "a 🔥 b"},
		{"other_script_kept_lookalikes_folded", "привет мир", "npиbet mиp"},
		{"empty", "", ""},
		{"only_punctuation", "?!...", ""},
		{"invalid_utf8", "ab\xffcd", "ab \ufffd cd"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := compute(t, tt.in)
			if got := string(m.Normalized()); got != tt.want {
				t.Errorf("Normalized(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestComputeMessage_Counts(t *testing.T) {
	type counts struct {
		Runes, Letters, Upper, Lower, Symbols, LongestRun, RepeatChars                     int
		Links, AllowedLinks, Mentions, TermHits, CombiningMarks, ArtChars, ObfuscatedChars int
	}
	tests := []struct {
		name string
		in   string
		want counts
	}{
		{"plain", "hello there", counts{Runes: 11, Letters: 10, Lower: 10, LongestRun: 2}},
		{"caps", "LETS GOOOOO", counts{Runes: 11, Letters: 10, Upper: 10, LongestRun: 5, RepeatChars: 3}},
		{"symbols", "wow!!! :)", counts{Runes: 9, Letters: 3, Lower: 3, Symbols: 5, LongestRun: 3, RepeatChars: 1}},
		{"links", "see clips.twitch.tv/Abc and https://evil.example.com/x plus bit.ly/y",
			counts{Runes: 68, Letters: 10, Lower: 10, Links: 3, AllowedLinks: 1, LongestRun: 2}},
		{"mentions", "@alice @bob_2 hi", counts{Runes: 16, Letters: 2, Lower: 2, Mentions: 2, LongestRun: 1}},
		{"email_is_a_link", "mail bob@example.com", counts{Runes: 20, Letters: 4, Lower: 4, Links: 1, LongestRun: 1}},
		{"term_hits", "idiot and 1d10t", counts{Runes: 15, Letters: 10, Lower: 10, TermHits: 2, LongestRun: 1}},
		{"zalgo", "a\u0301\u0302\u0303b", counts{Runes: 5, Letters: 2, Lower: 2, CombiningMarks: 3, LongestRun: 1}},
		{"braille_art", "⣿⣿⠿ ▓▓", counts{Runes: 6, Symbols: 5, ArtChars: 5, LongestRun: 2}},
		{"styled_and_invisible", "ＨＩ id\u200biot", counts{Runes: 9, Letters: 7, Upper: 2, Lower: 5, ObfuscatedChars: 3, TermHits: 1, LongestRun: 1}},
		{"lookalike_in_latin_word", "paypаl", counts{Runes: 6, Letters: 6, Lower: 6, ObfuscatedChars: 1, LongestRun: 1}},
		{"russian_is_not_obfuscation", "как дела", counts{Runes: 8, Letters: 7, Lower: 7, LongestRun: 1}},
		{"small_caps_two_and_three_byte", "ɪᴅɪᴏᴛ", counts{Runes: 5, Letters: 5, Lower: 5, ObfuscatedChars: 5, TermHits: 1, LongestRun: 1}},
		{"greek_caps_and_latin1", "ΑΒΓ Ñandú", counts{Runes: 9, Letters: 8, Upper: 4, Lower: 4, LongestRun: 1}},
		{"cyrillic_run", "ааааа!", counts{Runes: 6, Letters: 5, Lower: 5, Symbols: 1, LongestRun: 5, RepeatChars: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := compute(t, tt.in)
			got := counts{m.Runes, m.Letters, m.Upper, m.Lower, m.Symbols, m.LongestRun, m.RepeatChars,
				m.Links, m.AllowedLinks, m.Mentions, m.TermHits, m.CombiningMarks, m.ArtChars, m.ObfuscatedChars}
			if got != tt.want {
				t.Errorf("ComputeMessage(%q) counts =\n %+v, want\n %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestComputeMessage_Ratios(t *testing.T) {
	m := new(Message)
	ComputeMessage([]byte("KEKW KEKW ok"), 2, 8, false, nil, nil, nil, m)
	tests := []struct {
		name      string
		got, want float32
	}{
		{"caps", m.CapsRatio, 8.0 / 10},
		{"emote", m.EmoteRatio, 8.0 / 12},
		{"symbol", m.SymbolRatio, 0},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s ratio = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	// Emote code points beyond the text (bad tag data) are capped.
	ComputeMessage([]byte("hi"), 1, 50, false, nil, nil, nil, m)
	if m.EmoteRatio != 1 {
		t.Errorf("EmoteRatio with emoteChars > runes = %v, want 1", m.EmoteRatio)
	}
}

func TestComputeMessage_ReplyPrefix(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		isReply bool
		parent  string
		want    string // normalised text
		strip   bool
	}{
		{"reply", "@SomeUser you idiot", true, "SomeUser", "you idiot", true},
		{"case_insensitive", "@someuser hi", true, "SomeUser", "hi", true},
		{"only_prefix", "@SomeUser", true, "SomeUser", "", true},
		{"not_a_reply", "@SomeUser hi", false, "SomeUser", "hi", false},
		{"other_name", "@Other hi", true, "SomeUser", "hi", false},
		{"longer_name", "@SomeUserX hi", true, "SomeUser", "hi", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := new(Message)
			ComputeMessage([]byte(tt.text), 0, 0, tt.isReply, []byte(tt.parent), nil, nil, m)
			if got := string(m.Normalized()); got != tt.want || m.ReplyStripped != tt.strip {
				t.Errorf("ComputeMessage(%q, reply=%v, %q): normalised %q stripped %v, want %q %v",
					tt.text, tt.isReply, tt.parent, got, m.ReplyStripped, tt.want, tt.strip)
			}
			wantMentions := 0
			if !tt.strip {
				wantMentions = 1
			}
			if m.Mentions != wantMentions {
				t.Errorf("Mentions = %d, want %d", m.Mentions, wantMentions)
			}
		})
	}
}

func TestComputeMessage_Truncate(t *testing.T) {
	// 4-byte code points straddling MaxBytes: the cut must land on a boundary.
	text := strings.Repeat("a", MaxBytes-2) + strings.Repeat("😀", 10)
	m := new(Message)
	ComputeMessage([]byte(text), 0, 0, false, nil, nil, nil, m)
	if !m.Truncated {
		t.Fatal("Truncated = false, want true")
	}
	if want := MaxBytes - 2; m.Runes != want {
		t.Errorf("Runes = %d, want %d (the partial emoji dropped)", m.Runes, want)
	}
	ComputeMessage([]byte("short"), 0, 0, false, nil, nil, nil, m)
	if m.Truncated {
		t.Error("Truncated = true for a short message")
	}
}

func TestComputeMessage_Hash(t *testing.T) {
	same := []string{"Check my stream!", "check   my stream", "CHECK MYYY STREAM!!!", "@bob check my stream", "ch\u200beck my ѕtream"}
	m := new(Message)
	ComputeMessage([]byte(same[0]), 0, 0, false, nil, nil, nil, m)
	want := m.Hash
	if want == 0 {
		t.Fatal("Hash = 0 for a non-empty message")
	}
	for _, s := range same[1:] {
		ComputeMessage([]byte(s), 0, 0, false, nil, nil, nil, m)
		if m.Hash != want {
			t.Errorf("Hash(%q) = %x, want %x (same as %q)", s, m.Hash, want, same[0])
		}
	}
	ComputeMessage([]byte("check my streams"), 0, 0, false, nil, nil, nil, m)
	if m.Hash == want {
		t.Error("different text hashed equal")
	}
	ComputeMessage([]byte("?!"), 0, 0, false, nil, nil, nil, m)
	if m.Hash != 0 {
		t.Errorf("Hash of empty normalised text = %x, want 0", m.Hash)
	}
}

// TestComputeMessage_Reuse checks that a reused Message carries nothing over.
func TestComputeMessage_Reuse(t *testing.T) {
	allow, terms := benchLists(t)
	msgs := []string{"u r a n i d i o t", "@a @b https://x.com/y LOOOOL ⣿⣿", "", sampleTextString(500), "plain words"}
	reused := new(Message)
	for _, first := range msgs {
		for _, second := range msgs {
			ComputeMessage([]byte(first), 3, 9, false, nil, allow, terms, reused)
			ComputeMessage([]byte(second), 1, 2, false, nil, allow, terms, reused)
			fresh := new(Message)
			ComputeMessage([]byte(second), 1, 2, false, nil, allow, terms, fresh)
			if !equalMessages(reused, fresh) {
				t.Errorf("after %q, ComputeMessage(%q) differs from a fresh Message:\n got %s\nwant %s",
					first, second, summary(reused), summary(fresh))
			}
		}
	}
}

// summary formats the exported fields and the normalised text of m.
func summary(m *Message) string {
	var b strings.Builder
	v := reflect.ValueOf(*m)
	for i := 0; i < v.NumField(); i++ {
		if f := v.Type().Field(i); f.IsExported() {
			fmt.Fprintf(&b, "%s:%v ", f.Name, v.Field(i))
		}
	}
	fmt.Fprintf(&b, "Normalized:%q starts:%v", m.Normalized(), m.starts[:m.numStarts])
	return b.String()
}

// equalMessages compares the exported fields, the normalised text and the
// term start positions.
func equalMessages(a, b *Message) bool {
	if !bytes.Equal(a.Normalized(), b.Normalized()) || !slices.Equal(a.starts[:a.numStarts], b.starts[:b.numStarts]) {
		return false
	}
	x, y := *a, *b
	x.norm, y.norm = [normCap]byte{}, [normCap]byte{}
	x.starts, y.starts = [maxStarts]uint16{}, [maxStarts]uint16{}
	return x == y
}

func sampleTextString(n int) string { return string(sampleText(n)) }

func TestComputeMessage_Allocs(t *testing.T) {
	allow, terms := benchLists(t)
	for _, n := range []int{32, 500, MaxBytes + 100} {
		text := sampleText(n)
		m := new(Message)
		if got := testing.AllocsPerRun(100, func() {
			ComputeMessage(text, 2, 10, true, []byte("xQcOW"), allow, terms, m)
		}); got != 0 {
			t.Errorf("ComputeMessage(len=%d) allocs = %v, want 0", n, got)
		}
	}
}

func TestComputeMessage_ValidUTF8Normalized(t *testing.T) {
	for _, s := range []string{"ab\xff\xfe", "\xe2\x82", "ok \xc3\x28 x", sampleTextString(300)} {
		m := compute(t, s)
		if !utf8.Valid(m.Normalized()) {
			t.Errorf("Normalized(%q) = %q is not valid UTF-8", s, m.Normalized())
		}
	}
}

// TestComputeMessage_HotPath checks the hot path (foldRun) against the
// general path (char), which handles every code point on its own.
func TestComputeMessage_HotPath(t *testing.T) {
	allow, terms := benchLists(t)
	for _, text := range []string{
		"you are a l o s e r", "u r a n i d i o t", "a a a b", "I think so x y z", "hello world idiot",
		"k y s @bob k y s", "go to bit.ly/x now i d i o t", "mixed іdіοt words", "LOOOOL  nooo   ok",
		"это было круто, правда", "ΑΒΓ Ñandú ɪᴅɪᴏᴛ", "e\u0301te\u0301 ааааа", "ĳ ŉ ĸ ß µ",
		sampleTextString(500), "ends with a", "a", "x.y z", "see e.g. this",
	} {
		hot, slow := new(Message), new(Message)
		computeMessage([]byte(text), 1, 2, false, nil, allow, terms, hot, false)
		computeMessage([]byte(text), 1, 2, false, nil, allow, terms, slow, true)
		if !equalMessages(hot, slow) {
			t.Errorf("ComputeMessage(%q) hot and slow paths differ:\n got %s\nwant %s", text, summary(hot), summary(slow))
		}
	}
}
