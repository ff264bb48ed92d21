package risk

import (
	"github.com/streamsafe-rl/streamsafe/decide/internal/features"
	"github.com/streamsafe-rl/streamsafe/shared/event"
)

// now is the decision time of every scenario (Unix ms).
const now = int64(1_700_000_000_000)

const (
	sec = int64(1000)
	day = 24 * 3600 * sec
)

// Histories of the author in the channel.
var (
	regular = features.Snapshot{UserMsgCount: 180, UserMsgs60s: 1, FirstSeenMs: now - 40*day, LastMsgMs: now - 95*sec,
		ChanMsgs10s: 25, ChanMsgs60s: 140}
	newcomer = features.Snapshot{ChanMsgs10s: 25, ChanMsgs60s: 140} // nothing known about the user
	busyChat = features.Snapshot{UserMsgCount: 60, UserMsgs10s: 1, UserMsgs60s: 3, FirstSeenMs: now - 3*day, LastMsgMs: now - 8*sec, ChanMsgs10s: 300, ChanMsgs60s: 1500}
	flooding = features.Snapshot{UserMsgCount: 9, UserMsgs10s: 6, UserMsgs60s: 8, FirstSeenMs: now - 20*sec, LastMsgMs: now - 1500, SameAsLast: true, ChanMsgs10s: 30, ChanMsgs60s: 150, DupCount60s: 8}
	offender = features.Snapshot{UserMsgCount: 70, UserMsgs60s: 2, FirstSeenMs: now - 10*day, LastMsgMs: now - 30*sec, SysWarns: 2, SysTimeouts: 1, HumanTimeouts: 1, LastSysActionMs: now - 5*60*sec, LastSysWarnMs: now - 5*60*sec, ChanMsgs10s: 20, ChanMsgs60s: 120}
)

// vector computes the scenario's state vector with p's lists.
func (sc scenario) vector(p *Policy) *features.Vector {
	var m features.Message
	features.ComputeMessage([]byte(sc.text), sc.emotes, sc.emoteChars, sc.trust.IsReply, []byte(sc.parent),
		p.AllowList(), p.Terms(), &m)
	snap := sc.snap
	snap.DupCount60s = sc.dup60s
	var v features.Vector
	features.Build(&m, sc.trust, &snap, now, &v)
	return &v
}

// scenario is one realistic chat message with its context and the action the
// baseline policy must take.
type scenario struct {
	name       string
	text       string
	emotes     int // emotes in the message
	emoteChars int // code points they cover
	trust      features.Trust
	snap       features.Snapshot
	dup60s     int32 // messages with the same normalised text in the channel in the last minute
	parent     string
	want       event.Action
}

var (
	ignore = event.Action{Kind: event.Ignore}
	warn   = event.Action{Kind: event.Warn}
	del    = event.Action{Kind: event.Delete}
	to60   = event.Action{Kind: event.Timeout, DurationS: 60}
	to600  = event.Action{Kind: event.Timeout, DurationS: 600}
	to3600 = event.Action{Kind: event.Timeout, DurationS: 3600}
)

var scenarios = []scenario{
	// Ordinary chat: IGNORE.
	{name: "greeting", text: "hello chat, how's everyone doing tonight?", snap: regular, want: ignore},
	{name: "first_time_chatter_greeting", text: "hi! first time here, love the stream", trust: features.Trust{FirstMsg: true}, snap: newcomer, want: ignore},
	{name: "emote_spam_regular", text: "KEKW KEKW KEKW", emotes: 3, emoteChars: 12, snap: regular, dup60s: 30, want: ignore},
	{name: "emote_only_first_msg", text: "PogChamp", emotes: 1, emoteChars: 8, trust: features.Trust{FirstMsg: true}, snap: newcomer, want: ignore},
	{name: "sub_hype_caps", text: "LETS GOOOOOOOOO", trust: features.Trust{Subscriber: true, SubMonths: 14}, snap: busyChat, dup60s: 12, want: ignore},
	{name: "caps_gg", text: "GG WP", snap: regular, dup60s: 20, want: ignore},
	{name: "mod_posts_discord_link", text: "Join the discord: https://discord.gg/abc123 and read the rules", trust: features.Trust{Moderator: true}, snap: regular, want: ignore},
	{name: "regular_shares_clip", text: "that play was insane https://clips.twitch.tv/FunnyClipName-abc123", snap: regular, want: ignore},
	{name: "reply", text: "@SomeUser yeah that was wild lol", parent: "SomeUser", trust: features.Trust{IsReply: true}, snap: regular, want: ignore},
	{name: "broadcaster_caps", text: "BRB 5 MINUTES DONT GO ANYWHERE", trust: features.Trust{Broadcaster: true}, snap: regular, want: ignore},
	{name: "spanish", text: "qué buena jugada jajaja, increíble", snap: regular, want: ignore},
	{name: "russian", text: "привет всем, как дела?", snap: regular, want: ignore},
	{name: "question_marks", text: "???", snap: regular, dup60s: 5, want: ignore},
	{name: "emoji_only", text: "🔥🔥🔥", snap: regular, dup60s: 10, want: ignore},
	{name: "w_spam_in_busy_chat", text: "W", snap: busyChat, dup60s: 60, want: ignore},
	{name: "chatty_regular", text: "no way he actually hit that", snap: busyChat, want: ignore},
	{name: "vip_link", text: "my vod from yesterday https://www.twitch.tv/videos/123456789", trust: features.Trust{VIP: true}, snap: regular, want: ignore},
	{name: "me_action", text: "dances", trust: features.Trust{IsAction: true}, snap: regular, want: ignore},
	{name: "old_warning_normal_message", text: "good morning everyone", snap: features.Snapshot{UserMsgCount: 300, FirstSeenMs: now - 60*day, LastMsgMs: now - 3600*sec, SysWarns: 1, LastSysWarnMs: now - 20*day, LastSysActionMs: now - 20*day}, want: ignore},

	// Abuse: at least DELETE, TIMEOUT when the author is new or a repeat offender.
	{name: "insult_regular", text: "you're an idiot", snap: regular, want: del},
	{name: "insult_sub", text: "streamer is such a loser lol", trust: features.Trust{Subscriber: true, SubMonths: 3}, snap: regular, want: del},
	{name: "kys_first_msg", text: "kys", trust: features.Trust{FirstMsg: true}, snap: newcomer, want: to3600},
	{name: "obfuscated_insult_newcomer", text: "you are a i.d.i.o.t", snap: newcomer, want: to600},
	{name: "lookalike_insult_newcomer", text: "ur an іdіοt", snap: newcomer, want: to3600},
	{name: "repeat_offender_insult", text: "stfu moron", snap: offender, want: to3600},
	{name: "spam_flood", text: "buy cheap followers now", snap: flooding, dup60s: 8, want: to60},
	{name: "link_spam_first_msg", text: "Wanna become famous? Buy followers, primes and viewers on bit.ly/xyz123", trust: features.Trust{FirstMsg: true}, snap: newcomer, want: to600},
	{name: "link_spam_raid", text: "free giveaway at steamcommunity.gift/abc", trust: features.Trust{FirstMsg: true}, snap: features.Snapshot{RaidActive: true, ChanMsgs10s: 200, ChanMsgs60s: 600}, dup60s: 20, want: to3600},
	{name: "zalgo", text: "h̴̛̺̬̍ȩ̷̛͚̙̍ ̸̡̛̰̈́c̴̢̬̍̈́o̸̡̰̍m̷̢̬̈́e̴̡̛̍s̴̢̬̍", snap: newcomer, want: to600},
	{name: "braille_art", text: "⣿⣿⣿⣿⣿⣿⣿⣿⣿⣿⣿⣿⣿⣿⣿⣿⣿⣿⣿⣿ ⣿⣿⣿⣿⣿⣿⣿⠟⠋⠁⠀⠀⠀⠈⠙⠻⣿⣿⣿⣿ ⣿⣿⣿⣿⣿⡿⠁⠀⠀⠀⠀⠀⠀⠀⠀⠀⠈⢿⣿⣿ ⣿⣿⣿⣿⣿⠁⠀⠀⠀⠀⠀⠀⠀⠀⠀⠀⠀⠀⢻⣿", snap: regular, want: del},
	{name: "copypasta_flood", text: "I'm not saying the streamer is bad, but if you put a potato in front of the keyboard it would have hit that shot. Absolutely tragic gameplay, I've seen better aim from a stormtrooper", snap: regular, dup60s: 25, want: del},
	{name: "mention_spam", text: "@alpha @bravo @charlie @delta @echo @foxtrot @golf follow me", snap: newcomer, want: to600},
	{name: "caps_rant_newcomer", text: "WHY IS THIS STREAMER SO BAD AT THIS GAME HONESTLY JUST UNINSTALL ALREADY", trust: features.Trust{FirstMsg: true}, snap: newcomer, want: warn},
}
