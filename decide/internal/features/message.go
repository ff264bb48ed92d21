package features

import (
	"bytes"
	"unicode/utf8"
)

// MaxBytes is how much of a message's text is scored. Twitch caps a chat
// message at 500 code points (at most 2,000 bytes of UTF-8), so only abnormal
// input is cut: the text is truncated at the last code-point boundary at or
// before MaxBytes and Message.Truncated is set.
const MaxBytes = 2048

// normCap is the capacity of the normalisation buffer. Normalised text is
// usually shorter than its input, but a symbol between two letters gains the
// word boundaries around it ("a🔥b" -> "a 🔥 b"), so the buffer has twice
// MaxBytes; anything beyond it is dropped.
const normCap = 2 * MaxBytes

// Message holds the features of one chat message. ComputeMessage fills it.
// A Message carries its own buffers (about 8 KiB); keep one per
// goroutine and reuse it, so that computing features allocates nothing.
//
// Links and mentions are counted but take no part in the letter, symbol, art
// and obfuscation counts, the blocked-term match or the hash: URLs are full of
// punctuation and random letters, and user names are not the author's words.
type Message struct {
	Runes           int    // code points scored, after the reply prefix is stripped and the text truncated
	Letters         int    // letters (any script)
	Upper           int    // upper-case letters
	Lower           int    // lower-case letters
	Symbols         int    // punctuation and symbol code points, emoji and art included
	LongestRun      int    // longest run of one repeated code point (whitespace included)
	RepeatChars     int    // code points beyond the second in runs of three or more identical code points
	Links           int    // URLs, www. names and bare domains with a well-known top-level domain
	AllowedLinks    int    // links whose host is on the allow-list or a subdomain of an entry
	Mentions        int    // "@name" tokens (not counting the stripped reply prefix)
	EmoteCount      int    // emotes, as passed in (from the emotes tag)
	EmoteChars      int    // code points covered by emotes, as passed in
	TermHits        int    // blocked-term matches (at most one per starting position)
	FirstTerm       int    // index of the first blocked term matched (see BlockedTerms.Term), -1 if none
	CombiningMarks  int    // combining diacritics ("zalgo" when there are many)
	ArtChars        int    // Braille, box-drawing, block-element and geometric-shape code points
	ObfuscatedChars int    // styled letter forms, invisible word splitters, look-alikes mixed into Latin words
	Hash            uint64 // XXH64 of Normalized(); 0 when the normalised text is empty
	ReplyStripped   bool   // the "@<ParentDisplayName> " reply prefix was removed
	Truncated       bool   // the text was longer than MaxBytes

	// Ratios in [0, 1]; 0 when their denominator is 0.
	CapsRatio        float32 // Upper / (Upper + Lower)
	SymbolRatio      float32 // Symbols / Runes
	RepeatRatio      float32 // RepeatChars / Runes
	EmoteRatio       float32 // EmoteChars / Runes, capped at 1
	ZalgoRatio       float32 // CombiningMarks / Runes
	ArtRatio         float32 // ArtChars / Runes
	ObfuscationRatio float32 // ObfuscatedChars / Runes, capped at 1

	norm      [normCap]byte
	normLen   int
	starts    [maxStarts]uint16 // offsets in norm where a blocked term may start: word starts and joined letters
	numStarts int
}

// maxStarts bounds Message.starts: every word starts at a different code point
// of the text, so there are never more than MaxBytes of them.
const maxStarts = MaxBytes

// OtherLinks returns the number of links not on the allow-list.
func (m *Message) OtherLinks() int { return m.Links - m.AllowedLinks }

// Normalized returns the text that blocked terms are matched against and that
// Hash is computed over. Letters are case-folded, stripped of diacritics and
// mapped from look-alikes (Cyrillic, Greek, fullwidth, mathematical, enclosed,
// small capitals) and leetspeak to a-z; '1' and '|' become '1' (matched as i or
// l); invisible characters and combining marks are removed; runs of one letter
// collapse to one; spaced-out single letters ("i.d.i.o.t", "i d i o t") are
// joined; any run of whitespace and punctuation becomes one space; letters of
// other scripts and symbols (emoji, art) are kept as UTF-8, a run of the same
// symbol once. The slice aliases m and is valid until the next ComputeMessage.
func (m *Message) Normalized() []byte { return m.norm[:m.normLen] }

// reset zeroes everything but the buffers (clearing 8 KiB per message would
// cost more than the rest of the work).
func (m *Message) reset() {
	m.Runes, m.Letters, m.Upper, m.Lower, m.Symbols = 0, 0, 0, 0, 0
	m.LongestRun, m.RepeatChars, m.Links, m.AllowedLinks, m.Mentions = 0, 0, 0, 0, 0
	m.EmoteCount, m.EmoteChars, m.TermHits, m.FirstTerm = 0, 0, 0, -1
	m.CombiningMarks, m.ArtChars, m.ObfuscatedChars, m.Hash = 0, 0, 0, 0
	m.ReplyStripped, m.Truncated = false, false
	m.CapsRatio, m.SymbolRatio, m.RepeatRatio, m.EmoteRatio = 0, 0, 0, 0
	m.ZalgoRatio, m.ArtRatio, m.ObfuscationRatio = 0, 0, 0
	m.normLen, m.numStarts = 0, 0
}

// ComputeMessage fills m with the features of one chat message and allocates
// nothing.
//
// text is the message body as sent (raw UTF-8, invalid sequences tolerated),
// with a /me ACTION's "\x01ACTION " wrapper already removed. emoteCount and
// emoteChars are the number of emotes and the number of code points they cover,
// both from the emotes tag. When isReply is set and text starts with
// "@"+replyDisplayName+" " (ASCII case-insensitive), that prefix, which Twitch
// adds to every reply, is stripped before anything is measured. Text beyond
// MaxBytes is ignored. allow and terms may be nil (no allowed domains, no
// blocked terms).
func ComputeMessage(text []byte, emoteCount, emoteChars int, isReply bool, replyDisplayName []byte,
	allow *LinkAllowList, terms *BlockedTerms, m *Message) {
	computeMessage(text, emoteCount, emoteChars, isReply, replyDisplayName, allow, terms, m, false)
}

// computeMessage is ComputeMessage; slow turns the hot path (foldRun) off,
// so that tests can check it against the general path (char).
func computeMessage(text []byte, emoteCount, emoteChars int, isReply bool, replyDisplayName []byte,
	allow *LinkAllowList, terms *BlockedTerms, m *Message, slow bool) {
	m.reset()
	if isReply {
		text, m.ReplyStripped = stripReplyPrefix(text, replyDisplayName)
	}
	if len(text) > MaxBytes {
		cut := MaxBytes // back off at most to the start of the code point at MaxBytes
		for cut > MaxBytes-utf8.UTFMax && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text, m.Truncated = text[:cut], true
	}
	m.EmoteCount, m.EmoteChars = max(emoteCount, 0), max(emoteChars, 0)

	s := scanner{m: m, allow: allow, slow: slow, prev: -1, last: -1, lastSym: -1}
	s.scan(text)

	norm := m.Normalized()
	if len(norm) > 0 {
		m.Hash = hash64(norm)
	}
	if terms != nil {
		m.TermHits, m.FirstTerm = terms.match(norm, m.starts[:m.numStarts])
	}
	m.CapsRatio = ratio(m.Upper, m.Upper+m.Lower)
	m.SymbolRatio = ratio(m.Symbols, m.Runes)
	m.RepeatRatio = ratio(m.RepeatChars, m.Runes)
	m.EmoteRatio = ratio(m.EmoteChars, m.Runes)
	m.ZalgoRatio = ratio(m.CombiningMarks, m.Runes)
	m.ArtRatio = ratio(m.ArtChars, m.Runes)
	m.ObfuscationRatio = ratio(m.ObfuscatedChars, m.Runes)
}

// ratio returns n/d clamped to [0, 1], and 0 when d is 0.
func ratio(n, d int) float32 {
	if d <= 0 || n <= 0 {
		return 0
	}
	if n >= d {
		return 1
	}
	return float32(n) / float32(d)
}

// isNameByte reports whether c can start a Twitch login.
func isNameByte(c byte) bool {
	return c == '_' || (c >= '0' && c <= '9') || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

// stripReplyPrefix removes the "@<name> " that Twitch puts in front of a reply.
func stripReplyPrefix(text, name []byte) ([]byte, bool) {
	if len(name) == 0 || len(text) < 1+len(name) || text[0] != '@' || !equalFoldASCII(text[1:1+len(name)], name) {
		return text, false
	}
	rest := text[1+len(name):]
	switch {
	case len(rest) == 0:
		return rest, true
	case rest[0] == ' ':
		return rest[1:], true
	}
	return text, false
}

// equalFoldASCII compares a and b ignoring ASCII case.
func equalFoldASCII(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// asciiHot drives the hot loop of foldRun with one load per byte: bits
// 0-7 are the fold byte of an ASCII letter or digit (0 for every other byte),
// and the bits above, shifted down by 16, add one to the right lanes of
// scanner.lanes.
var asciiHot = func() (t [256]uint64) {
	for c := range asciiInfo {
		if ri := asciiInfo[c]; ri.cls == clsFold {
			t[c] = uint64(ri.fold) | flagLanes(ri.flags)<<16
		}
	}
	return t
}()

// flagLanes returns the scanner.lanes increment of a code point's flags:
// upper case in bits 0-15, lower case in bits 16-31, symbol in bits 32-47. A
// message has at most MaxBytes code points, so no lane overflows.
func flagLanes(f uint8) uint64 { return lanesOf[f] }

// lanesOf is flagLanes for every flags byte.
var lanesOf = func() (t [256]uint64) {
	for f := range t {
		t[f] = uint64(f>>1&1) | uint64(f>>2&1)<<16 | uint64(f>>3&1)<<32
	}
	return t
}()

// scanner is the state of one ComputeMessage: the statistics and the
// normalised text (see Message.Normalized) being written into m.norm.
type scanner struct {
	m     *Message
	allow *LinkAllowList
	slow  bool // never take the hot path (tests)

	// Statistics, copied into m by finish.
	runes      int
	lanes      uint64 // upper-case, lower-case and symbol counts (see flagLanes)
	uncased    int    // letters without case (most scripts)
	marks      int
	art        int
	obfuscated int

	prev    rune // previous code point (runs)
	run     int  // length of the current run
	longest int  // longest run of two or more
	repeats int  // code points beyond the second of a run

	// Normalisation.
	n          int  // bytes written to m.norm
	pending    bool // a word boundary is due before the next word
	inWord     bool
	last       rune // last code point written in the current word (fold byte or rune), -1 at a word start
	lastSym    rune // last symbol written as a word, -1 once a letter follows
	wordStart  int  // offset of the current word in m.norm
	wordFolds  int  // folded code points in the current word
	wordOther  bool // the current word holds something other than folded code points
	wordLatin  bool // the current word has a Latin letter
	wordConf   int  // look-alike letters in the current word
	prevSingle bool // the previous word is one folded letter, or a joined run of them
	prevEnd    int  // offset just past the previous word
}

// scan measures and normalises text.
//
// Tokens are whitespace-delimited. A token that is a mention or a link is
// only counted; everything else is measured and normalised code point by code
// point. Whether a token is a link is only looked at when it contains a '.',
// which one search over the message finds, so ordinary tokens cost nothing
// extra.
func (s *scanner) scan(text []byte) {
	dots := dotFinder{next: -1}
	tokenStart := true
	for i := 0; i < len(text); {
		if tokenStart {
			tokenStart = false
			if text[i] == '@' || dots.mayContain(text, i) {
				if end, words := s.token(text, i, &dots); !words {
					s.hardBoundary()
					s.runes += utf8.RuneCount(text[i:end])
					s.prev, s.run = -1, 0 // links and mentions end runs
					i = end
					continue
				}
			}
		}
		if c := text[i]; !s.slow && (asciiHot[c] != 0 || (c-0xC2 < 0xE0-0xC2 && hot2At(text, i))) { // see hot2At
			i = s.foldRun(text, i, &dots)
			continue
		}
		r, size := rune(text[i]), 1
		if r >= utf8.RuneSelf {
			r, size = decodeRune(text[i:])
		}
		i += size
		ri := classify(r)
		if ri.cls == clsSpace {
			s.runes++
			s.see(r)
			s.boundary()
			tokenStart = true
			continue
		}
		s.char(r, ri)
	}
	s.finish()
}

// dotFinder answers "may the token starting here contain a '.'?" with one
// search per '.' in the message rather than one per token.
type dotFinder struct {
	next      int // offset of the next '.', len(text) if none; -1 before the first search
	lastSpace int // offset of the last ' ' before next, -1 if none
}

// mayContain reports whether the token starting at text[i] may contain a '.':
// false when no '.' follows, or when a ' ' (which ends the token) comes first.
func (d *dotFinder) mayContain(text []byte, i int) bool {
	if d.next < i {
		d.find(text, i)
	}
	return d.next < len(text) && i > d.lastSpace
}

// find locates the first '.' at or after text[i] and the last ' ' before it.
func (d *dotFinder) find(text []byte, i int) {
	d.next = len(text)
	if k := bytes.IndexByte(text[i:], '.'); k >= 0 {
		d.next = i + k
	}
	d.lastSpace = bytes.LastIndexByte(text[:d.next], ' ')
}

// token looks at the token starting at text[i]. For a mention or a link it
// counts it and returns its end and words == false; otherwise it returns
// words == true (and end is meaningless).
func (s *scanner) token(text []byte, i int, dots *dotFinder) (end int, words bool) {
	if text[i] == '@' && i+1 < len(text) && isNameByte(text[i+1]) {
		s.m.Mentions++
		return tokenEnd(text, i), false
	}
	if !dots.mayContain(text, i) {
		return 0, true // the token ends before the next '.'
	}
	end = tokenEnd(text, i)
	if dots.next >= end {
		return end, true
	}
	var buf [maxHost]byte
	isLink, host := linkHost(text[i:end], &buf)
	if !isLink {
		return end, true
	}
	s.m.Links++
	if s.allow.allows(host) {
		s.m.AllowedLinks++
	}
	return end, false
}

// tokenEnd returns the offset of the first whitespace at or after text[i], or
// len(text).
func tokenEnd(text []byte, i int) int {
	for i < len(text) {
		c := text[i]
		if c < utf8.RuneSelf {
			if asciiInfo[c].cls == clsSpace {
				return i
			}
			i++
			continue
		}
		r, size := decodeRune(text[i:])
		if classify(r).cls == clsSpace {
			return i
		}
		i += size
	}
	return i
}

// decodeRune is utf8.DecodeRune for p[0] >= 0x80, with the two-byte
// sequences of Latin, Greek and Cyrillic text decoded inline.
func decodeRune(p []byte) (rune, int) {
	if len(p) >= 2 && p[0] >= 0xC2 && p[0] < 0xE0 && p[1]&0xC0 == 0x80 {
		return rune(p[0]&0x1F)<<6 | rune(p[1]&0x3F), 2
	}
	return utf8.DecodeRune(p)
}

// see follows runs of one repeated code point.
func (s *scanner) see(r rune) {
	if r != s.prev {
		s.prev, s.run = r, 1
		return
	}
	s.run++
	s.longest = max(s.longest, s.run)
	if s.run >= 3 {
		s.repeats++
	}
}

// hot2At reports whether the two-byte UTF-8 sequence at text[i] is a letter
// that foldRun handles (lowInfo: Latin-1, Latin Extended, Greek, Cyrillic).
// With asciiHot it decides where foldRun starts:
//
//	c := text[i]; asciiHot[c] != 0 || (c-0xC2 < 0xE0-0xC2 && hot2At(text, i))
//
// which the hot path writes out because as a function it would be too big to
// inline; hot2At itself is kept out of line for the same reason.
//
//go:noinline
func hot2At(text []byte, i int) bool {
	r, ok := decode2(text, i)
	if !ok || r >= lowTableEnd {
		return false
	}
	cls := lowInfo[r-0x80].cls
	return cls == clsFold || cls == clsLetter
}

// decode2 decodes the two-byte UTF-8 sequence at text[i], if there is one.
func decode2(text []byte, i int) (rune, bool) {
	if c := text[i]; c >= 0xC2 && c < 0xE0 && i+1 < len(text) && text[i+1]&0xC0 == 0x80 {
		return rune(c&0x1F)<<6 | rune(text[i+1]&0x3F), true
	}
	return 0, false
}

// foldRun is the hot path. Starting at text[j], it consumes ASCII letters
// and digits and the two-byte letters and marks of lowInfo, exactly as char
// would, and carries on across single spaces into the next word while that
// word also starts with one of them (see hot2At) and its token is ordinary (no
// leading '@', no '.' ahead that could make it a link). The state lives in
// locals meanwhile; the word boundaries are handled as boundary+startWord
// would. It returns the offset of the first byte it did not consume.
func (s *scanner) foldRun(text []byte, j int, dots *dotFinder) int {
	s.startWord()
	s.lastSym = -1
	m := s.m
	buf := &m.norm
	n, last, lanes, runes := s.n, s.last, s.lanes, s.runes
	prev, run, longest, repeats := s.prev, s.run, s.longest, s.repeats
	wordStart, wordFolds, wordOther, wordLatin, wordConf := s.wordStart, s.wordFolds, s.wordOther, s.wordLatin, s.wordConf
	prevSingle, prevEnd, numStarts := s.prevSingle, s.prevEnd, m.numStarts
	uncased, obfuscated, marks := s.uncased, s.obfuscated, s.marks
	for {
		// ASCII letters and digits.
		start, before := j, lanes
		for ; j < len(text); j++ {
			c := text[j]
			e := asciiHot[c]
			fold := byte(e)
			if fold == 0 {
				break
			}
			if rune(c) == prev {
				run++
				longest = max(longest, run)
				if run >= 3 {
					repeats++
				}
			} else {
				prev, run = rune(c), 1
			}
			lanes += e >> 16
			if rune(fold) != last && uint(n) < uint(len(buf)) {
				last = rune(fold)
				buf[n] = fold
				n++
			}
		}
		runes += j - start
		wordFolds += j - start
		if (lanes-before)&0xffffffff != 0 { // an upper- or lower-case ASCII letter
			wordLatin = true
		}
		// Two-byte letters and marks (Latin-1, Latin Extended, Greek, Cyrillic),
		// as char would handle them.
		start = j
	twoByte:
		for j < len(text) {
			r, ok := decode2(text, j)
			if !ok || r >= lowTableEnd {
				break
			}
			ri := lowInfo[r-0x80]
			switch ri.cls {
			case clsFold, clsLetter, clsMark:
			default:
				break twoByte
			}
			j += 2
			runes++
			if r == prev {
				run++
				longest = max(longest, run)
				if run >= 3 {
					repeats++
				}
			} else {
				prev, run = r, 1
			}
			f := ri.flags
			lanes += flagLanes(f)
			if f&(fLetter|fUpper|fLower) == fLetter {
				uncased++
			}
			switch {
			case ri.cls == clsMark:
				marks++
			case ri.cls == clsLetter:
				wordOther = true
				if r != last && uint(n)+2 <= uint(len(buf)) {
					last = r
					buf[n], buf[n+1] = text[j-2], text[j-1]
					n += 2
				}
			default: // clsFold
				wordFolds++
				switch {
				case f&fStyled != 0:
					obfuscated++
				case f&fConfusable != 0:
					wordConf++
				case f&fLetter != 0:
					wordLatin = true
				}
				if rune(ri.fold) != last && uint(n) < uint(len(buf)) {
					last = rune(ri.fold)
					buf[n] = ri.fold
					n++
				}
			}
		}
		if j > start {
			continue // more ASCII may follow
		}
		// Another ordinary word after a single space?
		if j+1 >= len(text) || text[j] != ' ' || text[j+1] == '@' {
			break
		}
		if c := text[j+1]; !(asciiHot[c] != 0 || (c-0xC2 < 0xE0-0xC2 && hot2At(text, j+1))) || // see hot2At
			dots.mayContain(text, j+1) {
			break
		}
		// End the word (see endWord).
		if wordLatin && wordConf > 0 {
			obfuscated += wordConf
		}
		single := wordFolds == 1 && !wordOther && n == wordStart+1
		if single && prevSingle && wordStart == prevEnd+1 {
			numStarts--
			if b := buf[wordStart]; buf[prevEnd-1] == b {
				n = prevEnd
			} else {
				buf[prevEnd] = b
				m.starts[numStarts] = uint16(prevEnd)
				numStarts++
				n = prevEnd + 1
			}
			prevEnd = n
		} else {
			prevSingle, prevEnd = single, n
		}
		// The space, then open the next word (see openWord).
		runes++
		prev, run = ' ', 1
		j++
		if uint(n) < uint(len(buf)) {
			buf[n] = ' '
			n++
		}
		wordStart, wordFolds, wordOther, wordLatin, wordConf, last = n, 0, false, false, 0, -1
		if numStarts < len(m.starts) {
			m.starts[numStarts] = uint16(n)
			numStarts++
		}
	}
	s.n, s.last, s.lanes, s.runes = n, last, lanes, runes
	s.prev, s.run, s.longest, s.repeats = prev, run, longest, repeats
	s.wordStart, s.wordFolds, s.wordOther, s.wordLatin, s.wordConf = wordStart, wordFolds, wordOther, wordLatin, wordConf
	s.prevSingle, s.prevEnd, m.numStarts = prevSingle, prevEnd, numStarts
	s.uncased, s.obfuscated, s.marks = uncased, obfuscated, marks
	return j
}

// char measures and normalises one code point of an ordinary token (the
// cases foldRun does not handle); ri is classify(r).
func (s *scanner) char(r rune, ri runeInfo) {
	s.runes++
	s.see(r)
	if f := ri.flags; f != 0 {
		s.lanes += flagLanes(f)
		if f&(fLetter|fUpper|fLower) == fLetter {
			s.uncased++
		}
		if f&fArt != 0 {
			s.art++
		}
		if f&(fStyled|fInvisible) != 0 {
			s.obfuscated++
		}
	}
	switch ri.cls {
	case clsFold:
		s.startWord()
		s.lastSym = -1
		s.wordFolds++
		if ri.flags&fConfusable != 0 {
			s.wordConf++
		} else if ri.flags&(fLetter|fStyled) == fLetter {
			s.wordLatin = true
		}
		if rune(ri.fold) != s.last {
			s.last = rune(ri.fold)
			s.put(ri.fold)
		}
	case clsLetter:
		s.startWord()
		s.lastSym = -1
		s.wordOther = true
		if r != s.last {
			s.last = r
			s.putRune(r)
		}
	case clsPunct:
		s.boundary()
	case clsSymbol:
		s.boundary()
		if r != s.lastSym {
			s.lastSym = r
			s.startWord()
			s.wordOther = true
			s.putRune(r)
			s.boundary()
		}
	case clsMark:
		s.marks++
	}
}

// startWord opens a word unless one is open.
func (s *scanner) startWord() {
	if !s.inWord {
		s.openWord()
	}
}

// openWord writes the pending boundary and starts a word.
func (s *scanner) openWord() {
	if s.pending && s.n > 0 {
		s.put(' ')
	}
	s.pending, s.inWord = false, true
	s.wordStart, s.wordFolds, s.wordOther, s.last = s.n, 0, false, -1
	s.wordLatin, s.wordConf = false, 0
	s.markStart(s.n)
}

// boundary ends the current word; the next word gets a space before it.
func (s *scanner) boundary() {
	if s.inWord {
		s.endWord()
	}
	s.pending = true
}

// hardBoundary is a boundary that spaced-out letters are not joined across
// (a link or mention was removed there).
func (s *scanner) hardBoundary() {
	s.boundary()
	s.prevSingle = false
}

// endWord closes the current word: it counts look-alikes mixed into a Latin
// word and joins a single letter onto a preceding run of single letters.
func (s *scanner) endWord() {
	s.inWord = false
	if s.wordLatin && s.wordConf > 0 {
		s.obfuscated += s.wordConf
	}
	single := s.wordFolds == 1 && !s.wordOther && s.n == s.wordStart+1
	if single && s.prevSingle && s.wordStart == s.prevEnd+1 {
		// "... x y" -> "... xy": drop the space (and y itself if it repeats x).
		norm := &s.m.norm
		s.m.numStarts-- // this word's start, the last one marked
		if b := norm[s.wordStart]; norm[s.prevEnd-1] == b {
			s.n = s.prevEnd
		} else {
			norm[s.prevEnd] = b
			s.markStart(s.prevEnd)
			s.n = s.prevEnd + 1
		}
		s.prevEnd = s.n
		return
	}
	s.prevSingle, s.prevEnd = single, s.n
}

// markStart records that a blocked term may start at norm[i].
func (s *scanner) markStart(i int) {
	if m := s.m; m.numStarts < len(m.starts) {
		m.starts[m.numStarts] = uint16(i)
		m.numStarts++
	}
}

func (s *scanner) put(b byte) {
	if s.n < len(s.m.norm) {
		s.m.norm[s.n] = b
		s.n++
	}
}

func (s *scanner) putRune(r rune) {
	if s.n+utf8.UTFMax <= len(s.m.norm) {
		s.n += utf8.EncodeRune(s.m.norm[s.n:], r)
	}
}

// finish closes the last word and copies the statistics into m.
func (s *scanner) finish() {
	if s.inWord {
		s.endWord()
	}
	m := s.m
	m.normLen = s.n
	m.Runes = s.runes
	m.Upper = int(s.lanes & 0xffff)
	m.Lower = int(s.lanes >> 16 & 0xffff)
	m.Symbols = int(s.lanes >> 32 & 0xffff)
	m.Letters = m.Upper + m.Lower + s.uncased
	m.CombiningMarks, m.ArtChars, m.ObfuscatedChars = s.marks, s.art, s.obfuscated
	m.LongestRun, m.RepeatChars = max(s.longest, min(s.runes, 1)), s.repeats
}
