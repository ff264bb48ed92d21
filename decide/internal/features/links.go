package features

import (
	"bytes"
	"fmt"
	"strings"
)

// maxHost is the longest host name looked at (the DNS limit).
const maxHost = 253

// LinkAllowList is a compiled, read-only set of domains whose links count as
// allowed; a host matches an entry equal to it or to one of its parent domains
// (clips.twitch.tv allows www.clips.twitch.tv but not twitch.tv). Safe for
// concurrent use. A nil *LinkAllowList allows nothing.
type LinkAllowList struct {
	domains map[string]struct{}
}

// NewLinkAllowList compiles domain names such as "clips.twitch.tv" (no scheme,
// no path; case-insensitive; at least two labels).
func NewLinkAllowList(domains []string) (*LinkAllowList, error) {
	a := &LinkAllowList{domains: make(map[string]struct{}, len(domains))}
	for i, d := range domains {
		var buf [maxHost]byte
		host, ok := hostName([]byte(d), &buf)
		if !ok {
			return nil, fmt.Errorf("compile link allow-list: entry %d %q: not a domain name such as \"clips.twitch.tv\"", i, d)
		}
		a.domains[string(host)] = struct{}{}
	}
	return a, nil
}

// allows reports whether host (lower case) or one of its parent domains is on
// the list.
func (a *LinkAllowList) allows(host []byte) bool {
	if a == nil || len(a.domains) == 0 {
		return false
	}
	for {
		if _, ok := a.domains[string(host)]; ok {
			return true
		}
		k := bytes.IndexByte(host, '.')
		if k < 0 {
			return false
		}
		host = host[k+1:]
	}
}

// linkHost decides whether tok (one whitespace-delimited token containing a
// '.') is a link and returns its lower-cased host (nil if the host is not a
// valid DNS name). A token is a link when it has a scheme ("https://..."),
// starts with "www.", or is a bare domain whose top-level domain is one of
// knownTLDs ("bit.ly/x", "discord.gg/abc"); "e.g.", "3.14" and "Mr.Smith" are
// not. Obfuscated dots ("discord(dot)gg") are not recognised.
func linkHost(tok []byte, buf *[maxHost]byte) (isLink bool, host []byte) {
	for len(tok) > 0 && isOpening(tok[0]) {
		tok = tok[1:]
	}
	for len(tok) > 0 && isClosing(tok[len(tok)-1]) {
		tok = tok[:len(tok)-1]
	}
	scheme := false
	k := 0
	for k < len(tok) && isSchemeByte(tok[k], k == 0) {
		k++
	}
	if k > 0 && len(tok) >= k+3 && tok[k] == ':' && tok[k+1] == '/' && tok[k+2] == '/' {
		tok, scheme = tok[k+3:], true
	}
	// The authority ends at the first '/', '?', '#' or ''; user info ends at
	// its last '@'; a port starts at the first ':' after that.
	end, at := len(tok), -1
	for i, c := range tok {
		if c == '/' || c == '?' || c == '#' || c == '\\' {
			end = i
			break
		}
		if c == '@' {
			at = i
		}
	}
	tok = tok[at+1 : end]
	for i, c := range tok {
		if c == ':' {
			tok = tok[:i]
			break
		}
	}
	for len(tok) > 0 && tok[len(tok)-1] == '.' {
		tok = tok[:len(tok)-1]
	}
	h, ok := hostName(tok, buf)
	switch {
	case !ok:
		return scheme, nil
	case scheme || bytes.HasPrefix(h, []byte("www.")):
		return true, h
	}
	_, known := knownTLDs[string(h[bytes.LastIndexByte(h, '.')+1:])]
	return known, h
}

// isSchemeByte reports whether c may appear in a URL scheme (a letter first,
// then letters, digits, '+', '-' and '.').
func isSchemeByte(c byte, first bool) bool {
	if l := c | 0x20; l >= 'a' && l <= 'z' {
		return true
	}
	return !first && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')
}

// isOpening and isClosing report punctuation that wraps a link in prose.
func isOpening(c byte) bool { return c == '(' || c == '<' || c == '[' || c == '"' || c == '\'' }
func isClosing(c byte) bool {
	switch c {
	case '.', ',', ';', ':', '!', '?', ')', ']', '>', '"', '\'':
		return true
	}
	return false
}

// hostName lower-cases s into buf and checks that it is a DNS name of at least
// two non-empty labels of ASCII letters, digits, '-' and '_' whose last label
// (the top-level domain) is alphabetic or an IDN ("xn--").
func hostName(s []byte, buf *[maxHost]byte) ([]byte, bool) {
	if len(s) == 0 || len(s) > maxHost {
		return nil, false
	}
	labels, labelStart := 1, 0
	for i, c := range s {
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c == '.':
			if i == labelStart {
				return nil, false
			}
			labels, labelStart = labels+1, i+1
		case (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_':
		default:
			return nil, false
		}
		buf[i] = c
	}
	h := buf[:len(s)]
	tld := h[labelStart:]
	if labels < 2 || len(tld) < 2 {
		return nil, false
	}
	if !bytes.HasPrefix(tld, []byte("xn--")) {
		for _, c := range tld {
			if c < 'a' || c > 'z' {
				return nil, false
			}
		}
	}
	return h, true
}

// knownTLDs are the top-level domains that make a bare "name.tld" token a link:
// the big generic ones, ones popular with URL shorteners and spam, and common
// country codes. Country codes that are also everyday words or abbreviations
// (it, in, is, at, no, me, so, to, us) are left out to keep "lol.so" plain text.
var knownTLDs = func() map[string]struct{} {
	const list = "com net org edu gov info biz io gg tv co ly be xyz app dev live link site online shop store " +
		"club top vip fun win bet cc ws su pw tk ml ga cf gq cn jp kr ru de uk fr nl pl es eu ch se fi dk cz " +
		"br au ca gl gd st sh ai icu cyou buzz rest monster click money stream gift games game fans tube"
	m := make(map[string]struct{})
	for _, t := range strings.Fields(list) {
		m[t] = struct{}{}
	}
	return m
}()
