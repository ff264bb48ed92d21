package features

import (
	"strings"
	"testing"
)

func TestBlockedTerms_Match(t *testing.T) {
	terms, err := NewBlockedTerms([]string{"idiot", "loser", "kys", "kill yourself", "noob"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in    string
		hits  int
		first string // "" if none
	}{
		{"you are an idiot", 1, "idiot"},
		{"IDIOT", 1, "idiot"},
		{"idiots everywhere", 1, "idiot"},
		{"idiooooot", 1, "idiot"},
		{"1d10t", 1, "idiot"},
		{"|d|ot", 1, "idiot"},
		{"i.d.i.o.t", 1, "idiot"},
		{"i d i o t", 1, "idiot"},
		{"u r a n i d i o t", 1, "idiot"},
		{"іdіοt", 1, "idiot"},
		{"ＩＤＩＯＴ", 1, "idiot"},
		{"𝐢𝐝𝐢𝐨𝐭", 1, "idiot"},
		{"id\u200biot", 1, "idiot"},
		{"i\u0301di\u0300ot", 1, "idiot"},
		{"íđíöt", 1, "idiot"},
		{"L0S3R", 1, "loser"},
		{"$tay a l0$er", 1, "loser"},
		{"k y s", 1, "kys"},
		{"KYS!!!", 1, "kys"},
		{"kill   yourself", 1, "kill yourself"},
		{"k1ll yourself", 1, "kill yourself"},
		{"you loser, kys", 2, "loser"},
		{"nooooob", 1, "noob"},
		// No match: inside a word, split differently, or just similar.
		{"kidiot", 0, ""},
		{"closer", 0, ""},
		{"skys the limit", 0, ""},
		{"kill your self", 0, ""},
		{"idio t", 0, ""},
		{"i'm so tired", 0, ""},
		{"@idiot_fan hi", 0, ""},             // user names are not matched
		{"https://idiot.example.com", 0, ""}, // links are not matched
		{"", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			m := new(Message)
			ComputeMessage([]byte(tt.in), 0, 0, false, nil, nil, terms, m)
			first := ""
			if m.FirstTerm >= 0 {
				first = terms.Term(m.FirstTerm)
			}
			if m.TermHits != tt.hits || first != tt.first {
				t.Errorf("ComputeMessage(%q): TermHits %d first %q, want %d %q (normalised %q)",
					tt.in, m.TermHits, first, tt.hits, tt.first, m.Normalized())
			}
		})
	}
}

func TestNewBlockedTerms_Errors(t *testing.T) {
	tests := []struct {
		name  string
		terms []string
		want  string // substring of the error
	}{
		{"too_short", []string{"ok", "no"}, `term 0 "ok"`},
		{"empty_after_normalisation", []string{"idiot", "?!?"}, `term 1 "?!?"`},
		{"too_long", []string{strings.Repeat("ab", 40)}, "want 3 to 64 bytes"},
		{"non_latin", []string{"дурак"}, "want only a-z, 0-9 and spaces"},
		{"link", []string{"evil.com"}, "looks like a link or a mention"},
		{"mention", []string{"@someone"}, "looks like a link or a mention"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewBlockedTerms(tt.terms)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewBlockedTerms(%q) error = %v, want one containing %q", tt.terms, err, tt.want)
			}
		})
	}
}

func TestBlockedTerms_NilAndEmpty(t *testing.T) {
	empty, err := NewBlockedTerms(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, bt := range []*BlockedTerms{nil, empty} {
		m := new(Message)
		ComputeMessage([]byte("idiot"), 0, 0, false, nil, nil, bt, m)
		if m.TermHits != 0 || m.FirstTerm != -1 || bt.Len() != 0 {
			t.Errorf("terms %v: TermHits %d FirstTerm %d Len %d, want 0 -1 0", bt, m.TermHits, m.FirstTerm, bt.Len())
		}
	}
}
