package features

import (
	"fmt"
	"slices"
)

// Limits of a blocked-term list.
const (
	MinTermBytes = 3    // shortest normalised term: shorter ones match inside too many words
	MaxTermBytes = 64   // longest normalised term
	maxTermVars  = 8    // i/l positions varied to '1' per term (2^8 variants at most)
	alphabetSize = 37   // ' ', '0'-'9', 'a'-'z'
	noSymbol     = 0xFF // a byte outside the trie's alphabet
)

// symIndex maps a normalised byte to its trie alphabet index.
var symIndex = func() (t [256]uint8) {
	for i := range t {
		t[i] = noSymbol
	}
	t[' '] = 0
	for c := byte('0'); c <= '9'; c++ {
		t[c] = 1 + c - '0'
	}
	for c := byte('a'); c <= 'z'; c++ {
		t[c] = 11 + c - 'a'
	}
	return t
}()

// BlockedTerms is a compiled, read-only list of blocked terms: a trie over
// normalised text (see Message.Normalized), so matching allocates nothing. Safe
// for concurrent use. A nil *BlockedTerms matches nothing.
//
// Each term is normalised exactly like message text, so "Idiot", "1d10t",
// "ıdıοt" and "i.d.i.o.t" all match the term "idiot". A match must begin at the
// start of a word or inside a run of spaced-out letters, and may end anywhere
// ("idiots" matches "idiot", "kidiot" does not). Because repeated letters
// collapse on both sides, a term is matched in its collapsed form ("noob" as
// "nob"): avoid terms whose collapsed form begins common words.
type BlockedTerms struct {
	terms []string
	child []int32    // node*alphabetSize + symbol -> child node; 0 = none (node 0 is the root)
	term  []int32    // node -> index+1 of the term ending there; 0 = none
	root  [256]int32 // byte -> child of the root, so most word starts cost one lookup
}

// NewBlockedTerms compiles terms. A term may be several words ("kill
// yourself"); it must normalise to at least MinTermBytes and at most
// MaxTermBytes of a-z, 0-9 and spaces, and must not look like a link or a
// mention (those tokens are not matched).
func NewBlockedTerms(terms []string) (*BlockedTerms, error) {
	bt := &BlockedTerms{
		terms: slices.Clone(terms),
		child: make([]int32, alphabetSize),
		term:  make([]int32, 1),
	}
	var m Message
	var variant []byte
	for idx, t := range terms {
		ComputeMessage([]byte(t), 0, 0, false, nil, nil, nil, &m)
		norm := m.Normalized()
		switch {
		case m.Links > 0 || m.Mentions > 0:
			return nil, fmt.Errorf("compile blocked terms: term %d %q: looks like a link or a mention", idx, t)
		case len(norm) < MinTermBytes || len(norm) > MaxTermBytes:
			return nil, fmt.Errorf("compile blocked terms: term %d %q: normalises to %q, want %d to %d bytes",
				idx, t, norm, MinTermBytes, MaxTermBytes)
		}
		var vary []int // positions of i and l, which the text may spell as '1'
		for i, c := range norm {
			if symIndex[c] == noSymbol {
				return nil, fmt.Errorf("compile blocked terms: term %d %q: normalises to %q, want only a-z, 0-9 and spaces",
					idx, t, norm)
			}
			if (c == 'i' || c == 'l') && len(vary) < maxTermVars {
				vary = append(vary, i)
			}
		}
		for mask := 0; mask < 1<<len(vary); mask++ {
			variant = append(variant[:0], norm...)
			for j, pos := range vary {
				if mask&(1<<j) != 0 {
					variant[pos] = '1'
				}
			}
			if mask == 0 || !hasDoubledByte(variant) { // text collapses "11", so such a variant never matches
				bt.insert(variant, idx)
			}
		}
	}
	for c := range bt.root {
		if s := symIndex[c]; s != noSymbol {
			bt.root[c] = bt.child[s]
		}
	}
	return bt, nil
}

// hasDoubledByte reports whether b has two equal adjacent bytes.
func hasDoubledByte(b []byte) bool {
	for i := 1; i < len(b); i++ {
		if b[i] == b[i-1] {
			return true
		}
	}
	return false
}

// insert adds one normalised spelling of term idx; the first term wins when two
// normalise alike.
func (bt *BlockedTerms) insert(s []byte, idx int) {
	node := int32(0)
	for _, c := range s {
		slot := int(node)*alphabetSize + int(symIndex[c])
		if bt.child[slot] == 0 {
			bt.child[slot] = int32(len(bt.term))
			bt.term = append(bt.term, 0)
			bt.child = append(bt.child, make([]int32, alphabetSize)...)
		}
		node = bt.child[slot]
	}
	if bt.term[node] == 0 {
		bt.term[node] = int32(idx + 1)
	}
}

// Len returns the number of terms.
func (bt *BlockedTerms) Len() int {
	if bt == nil {
		return 0
	}
	return len(bt.terms)
}

// Term returns term i as given to NewBlockedTerms (see Message.FirstTerm).
func (bt *BlockedTerms) Term(i int) string { return bt.terms[i] }

// match counts the positions of norm listed in starts where a term starts
// (see BlockedTerms).
func (bt *BlockedTerms) match(norm []byte, starts []uint16) (hits, first int) {
	first = -1
	if len(bt.terms) == 0 {
		return 0, -1
	}
	for _, i := range starts {
		if int(i) >= len(norm) {
			continue
		}
		node := bt.root[norm[i]]
		for k := int(i) + 1; node != 0; k++ {
			if t := bt.term[node]; t != 0 {
				hits++
				if first < 0 {
					first = int(t - 1)
				}
				break
			}
			if k >= len(norm) {
				break
			}
			s := symIndex[norm[k]]
			if s == noSymbol {
				break
			}
			node = bt.child[int(node)*alphabetSize+int(s)]
		}
	}
	return hits, first
}
