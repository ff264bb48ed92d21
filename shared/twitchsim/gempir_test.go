package twitchsim

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	twitch "github.com/gempir/go-twitch-irc/v4"
)

// TestGempirClient drives an independent client library against the
// simulator over plain TCP.
func TestGempirClient(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Tokens, c.Rate, c.Channels = []string{"goodtoken"}, 300, 2 })
	client := twitch.NewClient("simbot", "oauth:goodtoken")
	client.IrcAddress = s.TCPAddr()
	client.TLS = false

	var (
		mu       sync.Mutex
		msgs     []twitch.PrivateMessage
		clears   []twitch.ClearChatMessage
		raids    []twitch.UserNoticeMessage
		joined   = make(chan struct{}, 1)
		connects = make(chan struct{}, 1)
	)
	client.OnConnect(func() { connects <- struct{}{} })
	client.OnSelfJoinMessage(func(m twitch.UserJoinMessage) {
		if m.Channel == "simchan0" {
			joined <- struct{}{}
		}
	})
	client.OnPrivateMessage(func(m twitch.PrivateMessage) { mu.Lock(); msgs = append(msgs, m); mu.Unlock() })
	client.OnClearChatMessage(func(m twitch.ClearChatMessage) { mu.Lock(); clears = append(clears, m); mu.Unlock() })
	client.OnUserNoticeMessage(func(m twitch.UserNoticeMessage) { mu.Lock(); raids = append(raids, m); mu.Unlock() })
	client.Join("simchan0")
	errc := make(chan error, 1)
	go func() { errc <- client.Connect() }()
	for _, ch := range []chan struct{}{connects, joined} {
		select {
		case <-ch:
		case err := <-errc:
			t.Fatalf("Connect() = %v", err)
		case <-time.After(5 * time.Second):
			t.Fatal("gempir client did not log in and join")
		}
	}
	count := func() (int, int, int) { mu.Lock(); defer mu.Unlock(); return len(msgs), len(clears), len(raids) }
	eventually(t, "300 PRIVMSGs", 10*time.Second, func() bool { n, _, _ := count(); return n >= 300 })

	mu.Lock()
	target := msgs[0]
	mu.Unlock()
	if _, err := s.ClearChat(ClearChatOptions{Channel: "simchan0", Login: target.User.Name, Duration: 10 * time.Minute}); err != nil {
		t.Fatalf("ClearChat = %v", err)
	}
	if err := s.Raid(RaidOptions{Channel: "simchan0", Viewers: 77, Duration: 200 * time.Millisecond}); err != nil {
		t.Fatalf("Raid = %v", err)
	}
	eventually(t, "CLEARCHAT and raid USERNOTICE", 5*time.Second, func() bool { _, c, r := count(); return c >= 1 && r >= 1 })
	if err := client.Disconnect(); err != nil {
		t.Errorf("Disconnect() = %v", err)
	}
	if err := <-errc; !errors.Is(err, twitch.ErrClientDisconnected) {
		t.Errorf("Connect() = %v, want ErrClientDisconnected", err)
	}

	mu.Lock()
	defer mu.Unlock()
	actions, replies, emoteMsgs := 0, 0, 0
	for _, m := range msgs {
		want, ok := s.LookupMessage(m.ID)
		if !ok {
			t.Errorf("message %s not found by LookupMessage", m.ID)
			continue
		}
		equal(t, "Channel", m.Channel, "simchan0")
		equal(t, "User.Name", m.User.Name, want.Login)
		equal(t, "User.ID", m.User.ID, want.UserID)
		equal(t, "RoomID", m.RoomID, want.RoomID)
		equal(t, "Message", m.Message, want.Text)
		equal(t, "Action", m.Action, want.Action)
		equal(t, "FirstMessage", m.FirstMessage, want.FirstMsg)
		equal(t, "Time", m.Time.UnixMilli(), want.TmiSentTs)
		equal(t, "IsMod", m.User.IsMod, m.Tags["mod"] == "1")
		equal(t, "IsBroadcaster", m.User.IsBroadcaster, want.Persona == "broadcaster")
		if m.Action {
			actions++
		}
		if want.Reply {
			replies++
			if m.Reply == nil || m.Reply.ParentMsgID == "" || !strings.HasPrefix(m.Message, "@"+m.Reply.ParentDisplayName+" ") {
				t.Errorf("reply %s parsed as %+v", m.ID, m.Reply)
			}
		}
		for _, e := range m.Emotes {
			emoteMsgs++
			if emoteIDs[e.Name] != e.ID || e.Count != len(e.Positions) {
				t.Errorf("gempir parsed emote %+v from %q; simulator id for %q is %q", *e, m.Message, e.Name, emoteIDs[e.Name])
			}
		}
	}
	if emoteMsgs == 0 {
		t.Error("no emotes parsed")
	}
	t.Logf("%d PRIVMSGs (%d ACTION, %d replies, %d emotes)", len(msgs), actions, replies, emoteMsgs)

	cc := clears[0]
	equal(t, "ClearChat.Channel", cc.Channel, "simchan0")
	equal(t, "ClearChat.TargetUsername", cc.TargetUsername, target.User.Name)
	equal(t, "ClearChat.TargetUserID", cc.TargetUserID, target.User.ID)
	equal(t, "ClearChat.BanDuration", cc.BanDuration, 600)
	rd := raids[0]
	equal(t, "UserNotice.MsgID", rd.MsgID, "raid")
	equal(t, "UserNotice.Channel", rd.Channel, "simchan0")
	equal(t, "msg-param-viewerCount", rd.MsgParams["msg-param-viewerCount"], "77")
	equal(t, "SystemMsg", rd.SystemMsg, "77 raiders from "+rd.User.DisplayName+" have joined!")
}
