package twitchsim

import (
	"fmt"
	"strings"
	"testing"
)

// ircMsg is a parsed IRC line (test-only parser, independent of the
// simulator's own formatting code).
type ircMsg struct {
	raw     string
	tags    map[string]string
	tagKeys []string
	prefix  string
	command string
	params  []string
}

func (m ircMsg) trailing() string {
	if len(m.params) == 0 {
		return ""
	}
	return m.params[len(m.params)-1]
}

func unescapeTag(v string) string {
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' {
			b.WriteByte(v[i])
			continue
		}
		i++
		if i == len(v) {
			break
		}
		switch v[i] {
		case ':':
			b.WriteByte(';')
		case 's':
			b.WriteByte(' ')
		case 'r':
			b.WriteByte('\r')
		case 'n':
			b.WriteByte('\n')
		default:
			b.WriteByte(v[i])
		}
	}
	return b.String()
}

func parseIRC(line string) ircMsg {
	m := ircMsg{raw: line, tags: map[string]string{}}
	if strings.HasPrefix(line, "@") {
		var tags string
		tags, line, _ = strings.Cut(line[1:], " ")
		for _, kv := range strings.Split(tags, ";") {
			k, v, _ := strings.Cut(kv, "=")
			m.tags[k] = unescapeTag(v)
			m.tagKeys = append(m.tagKeys, k)
		}
	}
	if strings.HasPrefix(line, ":") {
		m.prefix, line, _ = strings.Cut(line[1:], " ")
	}
	m.command, line, _ = strings.Cut(line, " ")
	for line != "" {
		if strings.HasPrefix(line, ":") {
			m.params = append(m.params, line[1:])
			break
		}
		var p string
		p, line, _ = strings.Cut(line, " ")
		m.params = append(m.params, p)
	}
	return m
}

func equal[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

var fmtSprintf = fmt.Sprintf
