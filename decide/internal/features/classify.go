package features

import "unicode"

// runeClass says what a code point does during normalisation.
type runeClass uint8

const (
	clsSpace  runeClass = iota // whitespace or blank filler: ends a token and a word
	clsFold                    // letter or digit folded to one ASCII byte (runeInfo.fold)
	clsLetter                  // any other letter, digit or mark: part of a word, kept as UTF-8
	clsPunct                   // punctuation: a word boundary
	clsSymbol                  // other symbol (emoji, art, maths): its own word, kept for the hash
	clsIgnore                  // invisible format character: dropped without a boundary
	clsMark                    // combining diacritic: dropped without a boundary, counted as zalgo
)

// Flags of a code point, used for the statistics rather than for normalisation.
const (
	fLetter     uint8 = 1 << iota // counts as a letter
	fUpper                        // upper-case letter (caps ratio)
	fLower                        // lower-case letter (caps ratio)
	fSymbol                       // counts as punctuation/symbol (symbol ratio)
	fConfusable                   // Greek/Cyrillic look-alike folded to Latin (obfuscation inside a word that also has ASCII letters)
	fStyled                       // fullwidth, mathematical, enclosed or small-capital letter form (always obfuscation)
	fInvisible                    // invisible character that splits words (always obfuscation)
	fArt                          // Braille, box drawing, block element or geometric shape
)

// runeInfo is the classification of one code point.
type runeInfo struct {
	cls   runeClass
	fold  byte // for clsFold: the normalised byte ('a'-'z', '0'-'9' after leetspeak)
	flags uint8
}

// asciiInfo classifies ASCII. Letters fold to lower case; leetspeak digits and
// signs fold to the letter they stand for (0->o 3->e 4->a 5->s 7->t @->a $->s);
// '1' and '|' fold to '1', which the term trie matches as either 'i' or 'l'.
// Control characters are ignored.
var asciiInfo = func() (t [0x80]runeInfo) {
	for c := 0; c < 0x80; c++ {
		b := byte(c)
		switch {
		case b == ' ' || (b >= '\t' && b <= '\r'):
			t[c] = runeInfo{cls: clsSpace}
		case b < 0x20 || b == 0x7f:
			t[c] = runeInfo{cls: clsIgnore}
		case b >= 'a' && b <= 'z':
			t[c] = runeInfo{cls: clsFold, fold: b, flags: fLetter | fLower}
		case b >= 'A' && b <= 'Z':
			t[c] = runeInfo{cls: clsFold, fold: b + 'a' - 'A', flags: fLetter | fUpper}
		case b >= '0' && b <= '9':
			t[c] = runeInfo{cls: clsFold, fold: "o12eas6t89"[b-'0']}
		case b == '@':
			t[c] = runeInfo{cls: clsFold, fold: 'a', flags: fSymbol}
		case b == '$':
			t[c] = runeInfo{cls: clsFold, fold: 's', flags: fSymbol}
		case b == '|':
			t[c] = runeInfo{cls: clsFold, fold: '1', flags: fSymbol}
		default:
			t[c] = runeInfo{cls: clsPunct, flags: fSymbol}
		}
	}
	return t
}()

// lowTableEnd bounds lowInfo: U+0080..U+052F (Latin-1 Supplement, Latin
// Extended-A/B, IPA, combining diacritics, Greek and Cyrillic) are classified by
// one table lookup.
const lowTableEnd = 0x530

// lowInfo classifies U+0080..U+052F (index r-0x80); built once at start-up.
var lowInfo = func() (t [lowTableEnd - 0x80]runeInfo) {
	for r := rune(0x80); r < lowTableEnd; r++ {
		t[r-0x80] = classifyGeneric(r)
	}
	set := func(r rune, fold byte, flag uint8) {
		ri := runeInfo{cls: clsFold, fold: fold, flags: fLetter | flag}
		if unicode.IsUpper(r) {
			ri.flags |= fUpper
		} else if unicode.IsLower(r) {
			ri.flags |= fLower
		}
		t[r-0x80] = ri
	}
	// Latin-1 Supplement and Latin Extended-A: base letters (diacritics stripped).
	const latin1 = "aaaaaaaceeeeiiiidnooooo*ouuuuypsaaaaaaaceeeeiiiidnooooo*ouuuuypy" // U+00C0..U+00FF
	const latinA = "aaaaaaccccccccddddeeeeeeeeeegggggggghhhhiiiiiiiiiiiijjkkkllllllllllnnnnnnnnnoooooooorrrrrrsssssssstttttt" +
		"uuuuuuuuuuuuwwyyyzzzzzzs" // U+0100..U+017F
	for i := 0; i < len(latin1); i++ {
		if latin1[i] != '*' {
			set(rune(0xC0+i), latin1[i], 0)
		}
	}
	for i := 0; i < len(latinA); i++ {
		set(rune(0x100+i), latinA[i], 0)
	}
	// Look-alikes from other scripts and small capitals.
	for _, c := range confusables {
		set(c.r, c.fold, c.flag)
	}
	t[0xB5-0x80] = runeInfo{cls: clsFold, fold: 'u', flags: fLetter | fLower | fConfusable} // µ
	t[0xA0-0x80] = runeInfo{cls: clsSpace}                                                  // no-break space
	t[0xAD-0x80] = runeInfo{cls: clsIgnore, flags: fInvisible}                              // soft hyphen
	return t
}()

// confusables maps Greek, Cyrillic and IPA look-alikes of Latin letters.
var confusables = [...]struct {
	r    rune
	fold byte
	flag uint8
}{
	// IPA / Latin small capitals.
	{0x0251, 'a', fStyled}, {0x0261, 'g', fStyled}, {0x0262, 'g', fStyled}, {0x0269, 'i', fStyled},
	{0x026A, 'i', fStyled}, {0x0274, 'n', fStyled}, {0x0280, 'r', fStyled}, {0x028F, 'y', fStyled},
	{0x0299, 'b', fStyled}, {0x029C, 'h', fStyled}, {0x029F, 'l', fStyled},
	// Greek.
	{0x0391, 'a', fConfusable}, {0x0392, 'b', fConfusable}, {0x0395, 'e', fConfusable}, {0x0396, 'z', fConfusable},
	{0x0397, 'h', fConfusable}, {0x0399, 'i', fConfusable}, {0x039A, 'k', fConfusable}, {0x039C, 'm', fConfusable},
	{0x039D, 'n', fConfusable}, {0x039F, 'o', fConfusable}, {0x03A1, 'p', fConfusable}, {0x03A4, 't', fConfusable},
	{0x03A5, 'y', fConfusable}, {0x03A7, 'x', fConfusable}, {0x03AC, 'a', fConfusable}, {0x03AD, 'e', fConfusable},
	{0x03AE, 'n', fConfusable}, {0x03AF, 'i', fConfusable}, {0x03B1, 'a', fConfusable}, {0x03B2, 'b', fConfusable},
	{0x03B3, 'y', fConfusable}, {0x03B5, 'e', fConfusable}, {0x03B7, 'n', fConfusable}, {0x03B9, 'i', fConfusable},
	{0x03BA, 'k', fConfusable}, {0x03BC, 'u', fConfusable}, {0x03BD, 'v', fConfusable}, {0x03BF, 'o', fConfusable},
	{0x03C1, 'p', fConfusable}, {0x03C2, 'c', fConfusable}, {0x03C3, 'o', fConfusable}, {0x03C4, 't', fConfusable},
	{0x03C5, 'u', fConfusable}, {0x03C7, 'x', fConfusable}, {0x03C9, 'w', fConfusable}, {0x03CA, 'i', fConfusable},
	{0x03CB, 'u', fConfusable}, {0x03CC, 'o', fConfusable}, {0x03CD, 'u', fConfusable}, {0x03CE, 'w', fConfusable},
	// Cyrillic.
	{0x0400, 'e', fConfusable}, {0x0401, 'e', fConfusable}, {0x0405, 's', fConfusable}, {0x0406, 'i', fConfusable},
	{0x0407, 'i', fConfusable}, {0x0408, 'j', fConfusable}, {0x0410, 'a', fConfusable}, {0x0412, 'b', fConfusable},
	{0x0415, 'e', fConfusable}, {0x041A, 'k', fConfusable}, {0x041C, 'm', fConfusable}, {0x041D, 'h', fConfusable},
	{0x041E, 'o', fConfusable}, {0x0420, 'p', fConfusable}, {0x0421, 'c', fConfusable}, {0x0422, 't', fConfusable},
	{0x0423, 'y', fConfusable}, {0x0425, 'x', fConfusable}, {0x042C, 'b', fConfusable}, {0x0430, 'a', fConfusable},
	{0x0432, 'b', fConfusable}, {0x0433, 'r', fConfusable}, {0x0435, 'e', fConfusable}, {0x043A, 'k', fConfusable},
	{0x043C, 'm', fConfusable}, {0x043D, 'h', fConfusable}, {0x043E, 'o', fConfusable}, {0x043F, 'n', fConfusable},
	{0x0440, 'p', fConfusable}, {0x0441, 'c', fConfusable}, {0x0442, 't', fConfusable}, {0x0443, 'y', fConfusable},
	{0x0445, 'x', fConfusable}, {0x0448, 'w', fConfusable}, {0x044C, 'b', fConfusable}, {0x0450, 'e', fConfusable},
	{0x0451, 'e', fConfusable}, {0x0455, 's', fConfusable}, {0x0456, 'i', fConfusable}, {0x0457, 'i', fConfusable},
	{0x0458, 'j', fConfusable}, {0x0493, 'f', fStyled}, {0x04BB, 'h', fConfusable}, {0x04CF, 'l', fConfusable},
	{0x0501, 'd', fConfusable}, {0x051B, 'q', fConfusable}, {0x051D, 'w', fConfusable},
}

// smallCaps maps U+1D00..U+1D22 (phonetic small capitals) to Latin letters; 0 = none.
const smallCaps = "a\x00\x00\x00cd\x00e\x00\x00jk\x00m\x00o\x00\x00\x00\x00\x00\x00\x00\x00p\x00\x00tu\x00\x00\x00vwz"

// classify returns the classification of any code point.
func classify(r rune) runeInfo {
	if r < 0x80 {
		return asciiInfo[r]
	}
	if r < lowTableEnd {
		return lowInfo[r-0x80]
	}
	return classifyGeneric(r)
}

// classifyGeneric classifies a non-ASCII code point without the tables. Styled
// letter forms fold to ASCII; everything the tables do not cover falls back to
// the unicode package.
func classifyGeneric(r rune) runeInfo {
	if r >= 0x1F200 && r <= 0x1FAFF || r >= 0x2600 && r <= 0x27BF {
		return runeInfo{cls: clsSymbol, flags: fSymbol} // emoji, first: they are common
	}
	switch {
	case r == 0x200B || r == 0x2060 || r == 0xFEFF || r == 0x180E ||
		(r >= 0x202A && r <= 0x202E) || (r >= 0x2061 && r <= 0x2064) || (r >= 0x2066 && r <= 0x2069):
		// zero-width space, word joiner, BOM, bidi overrides: used to split words.
		return runeInfo{cls: clsIgnore, flags: fInvisible}
	case (r >= 0x200C && r <= 0x200F) || (r >= 0xFE00 && r <= 0xFE0F) ||
		(r >= 0xE0000 && r <= 0xE007F) || (r >= 0xE0100 && r <= 0xE01EF):
		// ZWNJ/ZWJ (emoji sequences, Persian), direction marks, variation selectors, tags.
		return runeInfo{cls: clsIgnore}
	case (r >= 0x0300 && r <= 0x036F) || (r >= 0x0483 && r <= 0x0489) || (r >= 0x1AB0 && r <= 0x1AFF) ||
		(r >= 0x1DC0 && r <= 0x1DFF) || (r >= 0x20D0 && r <= 0x20FF) || (r >= 0xFE20 && r <= 0xFE2F):
		return runeInfo{cls: clsMark}
	case r == 0x3164 || r == 0x115F || r == 0x1160 || r == 0xFFA0:
		// Hangul fillers: rendered blank, used as invisible "spaces".
		return runeInfo{cls: clsSpace}
	case (r >= 0x2500 && r <= 0x25FF) || (r >= 0x2800 && r <= 0x28FF):
		// Box drawing, block elements, geometric shapes, Braille patterns.
		return runeInfo{cls: clsSymbol, flags: fSymbol | fArt}
	case r >= 0xFF01 && r <= 0xFF5E:
		ri := asciiInfo[r-0xFEE0]
		if ri.cls == clsFold {
			ri.flags |= fStyled
		}
		return ri
	case r >= 0x1D400 && r <= 0x1D6A3: // mathematical alphanumeric letters, 52 per style
		k := byte((r - 0x1D400) % 52)
		if k < 26 {
			return runeInfo{cls: clsFold, fold: 'a' + k, flags: fLetter | fUpper | fStyled}
		}
		return runeInfo{cls: clsFold, fold: 'a' + k - 26, flags: fLetter | fLower | fStyled}
	case r >= 0x1D7CE && r <= 0x1D7FF: // mathematical digits
		ri := asciiInfo['0'+(r-0x1D7CE)%10]
		ri.flags |= fStyled
		return ri
	case r >= 0x24B6 && r <= 0x24CF: // circled capitals
		return runeInfo{cls: clsFold, fold: byte('a' + r - 0x24B6), flags: fLetter | fUpper | fStyled}
	case r >= 0x24D0 && r <= 0x24E9: // circled small letters
		return runeInfo{cls: clsFold, fold: byte('a' + r - 0x24D0), flags: fLetter | fLower | fStyled}
	case r >= 0x249C && r <= 0x24B5: // parenthesised small letters
		return runeInfo{cls: clsFold, fold: byte('a' + r - 0x249C), flags: fLetter | fLower | fStyled}
	case r >= 0x1F130 && r <= 0x1F189: // squared / negative circled / negative squared capitals
		k := (r - 0x1F130) % 32
		if k < 26 {
			return runeInfo{cls: clsFold, fold: byte('a' + k), flags: fLetter | fUpper | fStyled}
		}
		return runeInfo{cls: clsSymbol, flags: fSymbol}
	case r >= 0x1F1E6 && r <= 0x1F1FF:
		// Regional indicators: letters for matching, but flags are ordinary emoji.
		return runeInfo{cls: clsFold, fold: byte('a' + r - 0x1F1E6), flags: fSymbol}
	case r >= 0x1D00 && r <= 0x1D22:
		if b := smallCaps[r-0x1D00]; b != 0 {
			return runeInfo{cls: clsFold, fold: b, flags: fLetter | fLower | fStyled}
		}
	case r == 0xA731:
		return runeInfo{cls: clsFold, fold: 's', flags: fLetter | fLower | fStyled}
	case r >= 0x1F000 && r <= 0x1F1FF:
		return runeInfo{cls: clsSymbol, flags: fSymbol} // mahjong, cards, enclosed symbols
	}
	switch {
	case unicode.IsSpace(r):
		return runeInfo{cls: clsSpace}
	case unicode.IsLetter(r):
		ri := runeInfo{cls: clsLetter, flags: fLetter}
		if unicode.IsUpper(r) {
			ri.flags |= fUpper
		} else if unicode.IsLower(r) {
			ri.flags |= fLower
		}
		return ri
	case unicode.IsMark(r) || unicode.IsNumber(r):
		return runeInfo{cls: clsLetter}
	case unicode.IsPunct(r):
		return runeInfo{cls: clsPunct, flags: fSymbol}
	case unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Cc, r):
		return runeInfo{cls: clsIgnore}
	}
	return runeInfo{cls: clsSymbol, flags: fSymbol}
}
