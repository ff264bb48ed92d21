package features

import (
	"strings"
	"testing"
)

func TestLinkHost(t *testing.T) {
	tests := []struct {
		tok    string
		isLink bool
		host   string
	}{
		{"https://clips.twitch.tv/FunnyClip-abc", true, "clips.twitch.tv"},
		{"HTTP://WWW.YouTube.com:443/watch?v=x", true, "www.youtube.com"},
		{"(https://example.org/a).", true, "example.org"},
		{"https://user:pw@evil.com/x", true, "evil.com"},
		{"www.example.example", true, "www.example.example"},
		{"bit.ly/abc", true, "bit.ly"},
		{"discord.gg/invite", true, "discord.gg"},
		{"Twitch.TV/somebody", true, "twitch.tv"},
		{"youtu.be/x?t=1", true, "youtu.be"},
		{"bob@example.com", true, "example.com"},
		{"https://münchen.de", true, ""}, // a scheme makes a link even if the host is not ASCII
		{"e.g.", false, ""},
		{"i.e.", false, ""},
		{"3.14", false, ""},
		{"Mr.Smith", false, "mr.smith"},
		{"lol.so", false, "lol.so"},
		{"ok...what", false, ""},
		{"file.txt", false, "file.txt"},
		{".com", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.tok, func(t *testing.T) {
			var buf [maxHost]byte
			isLink, host := linkHost([]byte(tt.tok), &buf)
			if isLink != tt.isLink || string(host) != tt.host {
				t.Errorf("linkHost(%q) = %v %q, want %v %q", tt.tok, isLink, host, tt.isLink, tt.host)
			}
		})
	}
}

func TestLinkAllowList(t *testing.T) {
	a, err := NewLinkAllowList([]string{"clips.twitch.tv", "YouTube.com"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		host string
		want bool
	}{
		{"clips.twitch.tv", true},
		{"www.clips.twitch.tv", true},
		{"twitch.tv", false},
		{"youtube.com", true},
		{"m.youtube.com", true},
		{"notyoutube.com", false},
		{"youtube.com.evil.net", false},
		{"com", false},
	}
	for _, tt := range tests {
		if got := a.allows([]byte(tt.host)); got != tt.want {
			t.Errorf("allows(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
	var none *LinkAllowList
	if none.allows([]byte("youtube.com")) {
		t.Error("nil list allows youtube.com")
	}
}

func TestNewLinkAllowList_Errors(t *testing.T) {
	for _, d := range []string{"https://youtube.com", "youtube.com/", "tv", "", "a..b", "exa mple.com", "ümlaut.de"} {
		_, err := NewLinkAllowList([]string{"ok.com", d})
		if err == nil || !strings.Contains(err.Error(), "entry 1") {
			t.Errorf("NewLinkAllowList(%q) error = %v, want one naming entry 1", d, err)
		}
	}
}
