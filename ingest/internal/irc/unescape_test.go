package irc

import (
	"strings"
	"testing"
)

func TestUnescape(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"plain", "abc", "abc"},
		{"space", `Riot\sGames`, "Riot Games"},
		{"semicolon", `a\:b`, "a;b"},
		{"backslash", `a\\b`, `a\b`},
		{"cr_lf", `a\rb\nc`, "a\rb\nc"},
		{"one_pass_backslash_s", `x\\sy`, `x\sy`}, // not "x\ y"
		{"one_pass_backslash_colon", `\\:`, `\:`},
		{"double_backslash_then_s", `\\\s`, `\ `},
		{"unknown_escape_keeps_char", `\a\b\-`, "ab-"},
		{"escaped_equals", `foo\=bar`, "foo=bar"},
		{"dangling_backslash", `back\`, "back"},
		{"only_backslash", `\`, ""},
		{"escaped_backslash_at_end", `back\\`, `back\`},
		{"trailing_escaped_space", `CarvedTaleare\s`, "CarvedTaleare "},
		{"leading_escape", `\sx`, " x"},
		{"system_msg", `430\sraiders\sfrom\siamelisabete\shave\sjoined!`, "430 raiders from iamelisabete have joined!"},
		{"utf8_untouched", `\s가나\:ü`, " 가나;ü"},
		{"invalid_utf8_untouched", "\xff\\s\xfe", "\xff \xfe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Unescape(nil, []byte(tt.in))
			if string(got) != tt.want {
				t.Errorf("Unescape(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if got == nil {
				t.Errorf("Unescape(%q) = nil, want a non-nil slice", tt.in)
			}
		})
	}
}

func TestUnescape_noCopyWithoutBackslash(t *testing.T) {
	v := []byte("no escapes here")
	scratch := make([]byte, 0, 64)
	got := Unescape(scratch, v)
	if &got[0] != &v[0] || len(got) != len(v) {
		t.Errorf("Unescape(%q) copied; want v itself", v)
	}
}

func TestUnescape_reusesDst(t *testing.T) {
	scratch := make([]byte, 5, 64)
	copy(scratch, "stale")
	got := Unescape(scratch, []byte(`a\sb`))
	if string(got) != "a b" {
		t.Fatalf("Unescape = %q, want %q (dst contents must be overwritten)", got, "a b")
	}
	if &got[0] != &scratch[0] {
		t.Errorf("Unescape did not reuse dst's capacity")
	}
	in := []byte(`a\sb\:c`)
	if n := testing.AllocsPerRun(100, func() { got = Unescape(scratch, in) }); n != 0 {
		t.Errorf("Unescape with a large enough dst: %v allocs, want 0", n)
	}
}

// escape is the IRCv3 tag-value escaping that Unescape inverts.
func escape(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case ';':
			b.WriteString(`\:`)
		case ' ':
			b.WriteString(`\s`)
		case '\\':
			b.WriteString(`\\`)
		case '\r':
			b.WriteString(`\r`)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func TestUnescape_roundTrip(t *testing.T) {
	for _, v := range []string{"", "a b;c\\d\re\nf", `\s`, `\\`, "ends with \\", "가 나", "\x00\xff"} {
		if got := string(Unescape(nil, []byte(escape(v)))); got != v {
			t.Errorf("Unescape(escape(%q)) = %q", v, got)
		}
	}
}
