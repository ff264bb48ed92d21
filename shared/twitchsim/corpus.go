package twitchsim

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"unicode/utf8"
)

// span is an inclusive code-point range.
type span struct{ start, end int32 }

// emoteGroup is one "id:s-e,s-e" entry of the emotes tag.
type emoteGroup struct {
	id    string
	spans []span
}

// flagSpan is one "s-e:CAT.LEVEL" entry of the flags tag (AutoMod).
type flagSpan struct {
	span
	label string
}

// template is a pre-built message text with its pre-computed tags.
type template struct {
	text      string
	runes     int32
	emotes    []emoteGroup
	flags     []flagSpan
	cat       Category
	obf       Obfuscation
	abusive   bool
	emoteOnly bool
}

// globalEmotes are Twitch global emotes with their real ids (the last two
// mimic a new-style emotesv2 id and a modified emote id containing '_').
var globalEmotes = []struct{ name, id string }{
	{"Kappa", "25"}, {"Keepo", "1902"}, {"PogChamp", "305954156"}, {"LUL", "425618"},
	{"Kreygasm", "41"}, {"BibleThump", "86"}, {"ResidentSleeper", "245"}, {"4Head", "354"},
	{"DansGame", "33"}, {"SMOrc", "52"}, {"TriHard", "120232"}, {"HeyGuys", "30259"},
	{"VoHiYo", "81274"}, {"NotLikeThis", "58765"}, {"SeemsGood", "64138"}, {"CoolStoryBob", "123171"},
	{"WutFace", "28087"}, {"Jebaited", "114836"}, {"BloodTrail", "69"}, {"PJSalt", "36"},
	{"FailFish", "360"}, {"MrDestructoid", "28"}, {"SwiftRage", "34"}, {"KappaPride", "55338"},
	{"<3", "483"}, {"GivePLZ", "112291"}, {"TakeNRG", "112292"}, {"BabyRage", "22639"},
	{"OSFrog", "81248"}, {"FrankerZ", "65"}, {"CoolCat", "58127"},
	{"simHype", "emotesv2_3f0c7e1f2b6c4b3c9f3bb0f0e2a1d4c5"}, {"pajaM_TK", "300196486_TK"},
}

var emoteIDs = func() map[string]string {
	m := make(map[string]string, len(globalEmotes))
	for _, e := range globalEmotes {
		m[e.name] = e.id
	}
	return m
}()

var chatPhrases = []string{
	"gg", "that was insane", "what game is this?", "hi chat", "lets gooo", "no way", "clip it",
	"he is so bad at this lol", "first time here, love the stream", "what's the song?", "W", "L",
	"true", "o7", "this boss is hard", "can we get a hype train", "chat is so fast today",
	"what rank is he?", "nice play", "bro really did that", "hello from Germany",
	"how long has stream been going?", "is this live?", "any tips for beginners?", "200 iq play",
	"unlucky", "that jump was clean", "time to sleep, good night chat", "lurking while I work",
	"the audio is a bit low", "can you turn up the game volume?", "what keyboard do you use?",
	"he's cooking", "that's a bannable offense Kappa", "just got here, what did I miss?",
	"this song goes hard", "we need more of this", "absolutely cracked", "rip", "F",
	"streamer pls look at chat", "the tension is real", "big if true", "copium", "easy clap",
	"I can't believe that worked", "my dog just walked in", "is the event still going?",
	"let him cook", "10/10 would watch again", "who is winning?", "mods are asleep? no they are not",
	"what settings are you on?", "ok that was actually funny", "chat was right",
	"that's what I said 5 minutes ago", "good morning from Australia", "the lag is killing me",
	"is there a drop campaign?", "happy birthday to the streamer!", "scuffed",
	"this is the best part", "respect", "imagine missing that", "classic", "first",
	"pog", "the chat speed right now", "!uptime", "!discord", "thanks for the stream",
	"how many hours today?", "those graphics are nuts", "he missed the chest", "left left LEFT",
	"behind you!", "save the game first", "what's the plan for tomorrow?", "hype",
}

// nonASCIIPhrases exercise multi-byte UTF-8, astral code points and
// combining marks (emote offsets are code points, not bytes).
var nonASCIIPhrases = []string{
	"Чет скушные катки", "привет чат", "ㅋㅋㅋㅋㅋㅋㅋㅋ", "안녕하세요 여러분", "草", "すごい!",
	"não acredito nisso", "¿qué juego es este?", "très bien joué", "👉 👈", "😂😂😂", "🔥🔥🔥",
	"Grüße aus München", "çok iyi oynadın", "ज़बरदस्त", "مرحبا بالجميع", "这个太厉害了",
	"PUSHIN 🅿️", "Då kan du begära skadestånd", "ÄÖÜ äöü ß",
}

var rareWords = []string{"lol", "lmao", "xd", "haha", "ok", "bruh", "omg", "wow", "yes", "nah", "KEKW", "OMEGALUL", "monkaS", "Sadge"}

var spamWords = []string{"BUY", "FOLLOW ME", "SUB", "spam", "LOL", "😂", "HELLO", "VOTE"}

var capsSpam = []string{
	"WHY IS NOBODY TALKING ABOUT THIS!!!!!!!", "STREAMER PLEASE LOOK AT CHAT!!!!!!!!!!",
	"HELLO????????????????????????", "FIRST FIRST FIRST FIRST FIRST", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	"GIVE ME A SHOUTOUT NOW!!!!!!", "OMG OMG OMG OMG OMG OMG OMG OMG",
}

var symbolSpam = []string{
	"▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬▬", "$$$$$$$$$$$$$$$$$$$$$$$$$$$$$$", "♥♥♥♥♥♥♥♥♥♥♥♥♥♥♥♥♥♥",
	"⠄⢀⣀⣀⣀⣀⡀⢀⣀⡀⠄⠄⣀⡀⠄⠄⢀⣀⣀⡀⠄⠄⣀⣀⠄⠄⣀⣀⡀⠄ ⠄⢸⣿⡟⠛⠛⠃⢸⣿⡇⠄⠄⣿⡇⠄⣼⣿⠟⠻⣿⣆",
	"░░░░░▄▄▄▄▀▀▀▀▀▀▀▀▄▄▄▄▄▄░░░░░", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!", "............................",
	"¯\\_(ツ)_/¯ ¯\\_(ツ)_/¯ ¯\\_(ツ)_/¯ ¯\\_(ツ)_/¯",
}

// AllowedLinkDomains returns the domains whose links the simulator labels
// CategoryLinkAllowed.
func AllowedLinkDomains() []string {
	return []string{"clips.twitch.tv", "www.twitch.tv", "twitch.tv", "www.youtube.com", "youtube.com", "youtu.be"}
}

var allowedLinkFormats = []string{
	"check this clip https://clips.twitch.tv/%s",
	"https://clips.twitch.tv/%s LUL",
	"the song is https://www.youtube.com/watch?v=%s",
	"youtu.be/%s this one",
	"full vod: https://www.twitch.tv/videos/%d",
	"his guide is good https://youtube.com/watch?v=%s",
}

var blockedLinkFormats = []string{
	"free skins here https://bit.ly/%s",
	"get free nitro discord.gg/%s",
	"http://free-followers.xyz/%s",
	"steam gift for you steamcommunity-gift.ru/%s",
	"win an iphone https://tinyurl.com/%s",
	"cheap viewers at https://streamboost.shop/%s",
	"look at this lol grabify.link/%s",
}

// Copypastas are original texts in the style of chat copypastas.
var copypastas = []string{
	"I have been watching this stream for three years and I have never once seen the streamer check the minimap. Not once. I have notes. I have spreadsheets. I have a color-coded binder titled MINIMAP INCIDENTS and it is four inches thick. Please. I am begging. Look at the minimap.",
	"Hello, I am the chat's designated emotional support viewer. If you are sad about that last fight, please form an orderly line. Tissues are on the left, copium is on the right, and the exit is behind the streamer's chair where the hopes and dreams of the last boss attempt are buried. Thank you for your cooperation.",
	"Breaking news: local streamer discovers that the jump button exists. Scientists are baffled. Chat is in shock. Experts say it could take several more streams before the discovery of the crouch button. More at eleven. This has been a public service announcement from the department of obvious buttons.",
	"Dear diary, today the streamer said 'one more game' for the seventh time. I have not seen my family in days. My plants have died. The sun has set and risen again. Still one more game. If anyone finds this message, tell my cat I loved her. One more game, he said. One more.",
	"The year is 2031. The streamer is still looting the same chest. Civilizations have risen and fallen. The chat has become a sovereign nation with its own flag and national anthem which is just the word POG sung at increasing volume. The chest remains unlooted. We wait.",
	"⚠️ ATTENTION ⚠️ This chat is now under the protection of the Order of the Lurkers. We do not type. We do not clap. We simply watch, silently judging every missed jump. Our numbers are vast. Our patience is infinite. Our snacks are running low. Please send snacks. ⚠️",
}

var botPatterns = []string{
	"Wanna become famous? Buy followers, primes and viewers on %s %s",
	"Best viewers on %s (%s)",
	"Hey, I found a way to get more viewers, visit %s code %s",
	"Cheap primes and follows at %s !! %s",
	"hello streamer, want 1000 followers? check %s %s",
	"Promote your stream for free at %s %s",
}

var botDomains = []string{"streamboost . shop", "bigfollows . com", "viewerz . xyz", "growtw1tch . net", "followgod . ru", "dogehype . com"}

// blockedNouns and blockedDirectives are the insults abusive users type.
var (
	blockedNouns      = []string{"idiot", "moron", "loser", "clown", "dumbass", "imbecile", "degenerate", "scumbag"}
	blockedDirectives = []string{"kys", "kill yourself"}
)

// BlockedTerms returns the insults the abusive persona uses (before
// obfuscation); a moderation filter's blocked-term list should contain them.
func BlockedTerms() []string {
	return append(append([]string(nil), blockedNouns...), blockedDirectives...)
}

// Abuse phrases: {t} is the (disguised) blocked term, {u} a target display name.
var abuseNounPhrases = []string{
	"you are such a {t}", "@{u} shut up you {t}", "streamer is a {t}", "what a {t} LUL",
	"{t} {t} {t}", "nobody likes you {t}", "imagine being this much of a {t}",
	"@{u} {t}", "go away {t}", "this {t} can't play", "chat is full of {t}s", "ban this {t} already",
}

var abuseDirectivePhrases = []string{"just {t}", "@{u} {t}", "{t} streamer", "everyone here should {t}", "{t} lol", "@{u} go {t} now"}

var raidPhrases = []string{
	"GivePLZ RAID TakeNRG", "hi from the raid VoHiYo", "raid hype PogChamp PogChamp", "HeyGuys",
	"RAID RAID RAID", "we're here from the raid! <3", "VoHiYo VoHiYo VoHiYo", "raiders assemble SMOrc",
	"hello new streamer HeyGuys", "the raid has arrived PogChamp", "PogChamp", "love from the raid <3 <3",
}

var leetMap = map[rune][]rune{'a': {'4', '@'}, 'e': {'3'}, 'i': {'1', '!'}, 'o': {'0'}, 's': {'5', '$'}, 't': {'7'}, 'l': {'1'}, 'g': {'9'}}

var confusableMap = map[rune][]rune{
	'a': {'\u0430'}, 'e': {'\u0435'}, 'o': {'\u043E', '\u03BF'}, 'p': {'\u0440'}, 'c': {'\u0441'},
	'x': {'\u0445'}, 'i': {'\u0456'}, 'y': {'\u0443'}, 'k': {'\u043A'}, 's': {'\u0455'},
}

var zeroWidth = []rune{'\u200B', '\u200C', '\u200D', '\u2060'}

// obfuscate disguises term; it always changes at least one character.
func obfuscate(rng *rand.Rand, term string, o Obfuscation) string {
	var b strings.Builder
	switch o {
	case ObfuscationLeet, ObfuscationConfusable:
		m := leetMap
		if o == ObfuscationConfusable {
			m = confusableMap
		}
		rs := []rune(term)
		var mappable []int
		for i, r := range rs {
			if _, ok := m[r]; ok {
				mappable = append(mappable, i)
			}
		}
		if len(mappable) == 0 { // nothing to swap: fall back to a zero-width split
			return obfuscate(rng, term, ObfuscationZeroWidth)
		}
		forced := mappable[rng.IntN(len(mappable))]
		for _, i := range mappable {
			if i == forced || rng.IntN(10) < 5 {
				alts := m[rs[i]]
				rs[i] = alts[rng.IntN(len(alts))]
			}
		}
		b.WriteString(string(rs))
	case ObfuscationZeroWidth:
		for i, r := range term {
			if i > 0 {
				b.WriteRune(zeroWidth[rng.IntN(len(zeroWidth))])
			}
			b.WriteRune(r)
		}
	case ObfuscationZalgo:
		for _, r := range term {
			b.WriteRune(r)
			if r == ' ' {
				continue
			}
			for range 1 + rng.IntN(3) {
				b.WriteRune(rune(0x0300 + rng.IntN(0x70)))
			}
		}
	case ObfuscationSpaced:
		for i, r := range term {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteRune(r)
		}
	default:
		return term
	}
	return b.String()
}

// newTemplate computes the emotes tag and rune count of text. Twitch matches
// emotes only on whole space-separated tokens.
func newTemplate(text string, cat Category) template {
	t := template{text: text, cat: cat, runes: int32(utf8.RuneCountInString(text))}
	pos := int32(0)
	tokens, emotes := 0, 0
	for tok := range strings.SplitSeq(text, " ") {
		n := int32(utf8.RuneCountInString(tok))
		if tok != "" {
			tokens++
		}
		if id, ok := emoteIDs[tok]; ok {
			emotes++
			sp := span{pos, pos + n - 1}
			found := false
			for i := range t.emotes {
				if t.emotes[i].id == id {
					t.emotes[i].spans = append(t.emotes[i].spans, sp)
					found = true
				}
			}
			if !found {
				t.emotes = append(t.emotes, emoteGroup{id: id, spans: []span{sp}})
			}
		}
		pos += n + 1
	}
	t.emoteOnly = tokens > 0 && tokens == emotes
	return t
}

// runeIndex converts a byte offset in s to a code-point offset.
func runeIndex(s string, byteOff int) int32 {
	return int32(utf8.RuneCountInString(s[:byteOff]))
}

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

func randToken(rng *rand.Rand, n int, alphabet string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(b)
}

const (
	alnum   = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	ytAlpha = alnum + "-_"
)

// corpus holds every pre-built template, grouped by use.
type corpus struct {
	chat      []template
	spam      []template
	linkOK    []template
	linkBad   []template
	copypasta []template
	botGroups [][]template
	abuse     []template
	raid      []template
}

func buildCorpus(rng *rand.Rand, targets []string) *corpus {
	c := &corpus{}
	emoteName := func() string { return globalEmotes[rng.IntN(len(globalEmotes)-2)].name }
	for range 4096 {
		var parts []string
		switch r := rng.IntN(100); {
		case r < 8: // emote-only
			n := 1 + rng.IntN(5)
			e := emoteName()
			for range n {
				if rng.IntN(3) == 0 {
					e = emoteName()
				}
				parts = append(parts, e)
			}
		case r < 18:
			parts = append(parts, pick(rng, nonASCIIPhrases))
		default:
			parts = append(parts, pick(rng, chatPhrases))
			if rng.IntN(4) == 0 {
				parts = append(parts, pick(rng, rareWords))
			}
		}
		if rng.IntN(3) == 0 {
			for range 1 + rng.IntN(3) {
				if rng.IntN(2) == 0 {
					parts = append(parts, emoteName())
				} else {
					parts = append([]string{emoteName()}, parts...)
				}
			}
		}
		c.chat = append(c.chat, newTemplate(strings.Join(parts, " "), CategoryChat))
	}
	for range 512 {
		var text string
		switch rng.IntN(5) {
		case 0:
			w := pick(rng, spamWords)
			text = strings.TrimSpace(strings.Repeat(w+" ", 6+rng.IntN(20)))
		case 1:
			text = pick(rng, capsSpam)
		case 2:
			text = pick(rng, symbolSpam)
		case 3:
			e := emoteName()
			text = strings.TrimSpace(strings.Repeat(e+" ", 8+rng.IntN(25)))
		default:
			text = strings.Repeat(string(rune('a'+rng.IntN(26))), 20+rng.IntN(120))
		}
		c.spam = append(c.spam, newTemplate(text, CategorySpam))
	}
	for range 512 {
		f := pick(rng, allowedLinkFormats)
		var text string
		switch {
		case strings.Contains(f, "%d"):
			text = fmt.Sprintf(f, 1000000000+rng.IntN(999999999))
		case strings.Contains(f, "clips"):
			text = fmt.Sprintf(f, pick(rng, []string{"Funny", "Brave", "Clever", "Tiny", "Shy"})+pick(rng, []string{"Horse", "Otter", "Panda", "Crab"})+"-"+randToken(rng, 16, ytAlpha))
		default:
			text = fmt.Sprintf(f, randToken(rng, 11, ytAlpha))
		}
		c.linkOK = append(c.linkOK, newTemplate(text, CategoryLinkAllowed))
		c.linkBad = append(c.linkBad, newTemplate(fmt.Sprintf(pick(rng, blockedLinkFormats), randToken(rng, 7, alnum)), CategoryLinkBlocked))
	}
	for _, p := range copypastas {
		c.copypasta = append(c.copypasta, newTemplate(p, CategoryCopypasta))
	}
	for _, p := range botPatterns {
		var g []template
		dom := pick(rng, botDomains)
		for range 64 {
			g = append(g, newTemplate(fmt.Sprintf(p, dom, randToken(rng, 4+rng.IntN(4), alnum)), CategoryBot))
		}
		c.botGroups = append(c.botGroups, g)
	}
	for range 2048 {
		o := Obfuscation(rng.IntN(int(numObfuscations)))
		var term, format string
		if rng.IntN(5) == 0 {
			term, format = pick(rng, blockedDirectives), pick(rng, abuseDirectivePhrases)
		} else {
			term, format = pick(rng, blockedNouns), pick(rng, abuseNounPhrases)
		}
		disguised := obfuscate(rng, term, o)
		target := pick(rng, targets)
		const mark = "\x00"
		text := strings.ReplaceAll(strings.ReplaceAll(format, "{u}", target), "{t}", mark+disguised+mark)
		// Locate the (possibly repeated) term occurrences for AutoMod flags.
		var flags []flagSpan
		var clean strings.Builder
		for i, seg := range strings.Split(text, mark) {
			if i%2 == 1 && o == ObfuscationNone {
				start := runeIndex(clean.String()+seg, clean.Len())
				flags = append(flags, flagSpan{span{start, start + int32(utf8.RuneCountInString(seg)) - 1}, "A.7"})
			}
			clean.WriteString(seg)
		}
		t := newTemplate(clean.String(), CategoryAbuse)
		t.obf, t.abusive, t.flags = o, true, flags
		c.abuse = append(c.abuse, t)
	}
	for range 256 {
		c.raid = append(c.raid, newTemplate(pick(rng, raidPhrases), CategoryRaid))
	}
	return c
}
