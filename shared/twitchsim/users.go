package twitchsim

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// user is a simulated chatter with its tag values pre-formatted.
type user struct {
	id        string
	login     string
	display   string
	color     string
	badgeInfo string
	badges    string
	userType  string
	prefix    string // ":login!login@login.tmi.twitch.tv PRIVMSG #"
	persona   Persona
	channel   int32 // owning channel for moderators, VIPs and broadcasters; -1 otherwise
	mod       bool
	vip       bool
	sub       bool
	turbo     bool
}

// Pool sizes. Moderators, VIPs and broadcasters are per channel.
const (
	modsPerChannel = 5
	vipsPerChannel = 10
)

var poolSizes = [numPersonas]int{
	PersonaViewer: 20000, PersonaSubscriber: 8000, PersonaSpammer: 300, PersonaLinkDropper: 300,
	PersonaCopypasta: 3000, PersonaBotSwarm: 3000, PersonaAbusive: 400, PersonaRaider: 20000,
}

type pool struct{ start, n int32 }

// population holds every simulated user, grouped into persona pools.
type population struct {
	users   []user
	pools   [numPersonas]pool
	byLogin map[string]int32
	byID    map[string]int32
}

var (
	nameAdj  = []string{"sneaky", "happy", "lazy", "cosmic", "salty", "quiet", "angry", "fuzzy", "brave", "tiny", "mega", "dark", "silent", "lucky", "crispy", "sleepy", "wild", "frozen", "golden", "rusty", "swift", "noisy", "clever", "spicy", "cool", "epic", "shy", "odd", "neon", "retro"}
	nameNoun = []string{"potato", "otter", "gamer", "wizard", "panda", "ninja", "toast", "falcon", "pickle", "goblin", "knight", "pixel", "muffin", "raven", "tiger", "noodle", "ghost", "robot", "cactus", "dragon", "badger", "waffle", "comet", "lemon", "viking", "walrus", "bean", "moose", "sloth", "shark"}
	botStem  = []string{"hoss00312_", "viewbot", "followz_", "primegift", "tw1tchfan_", "promo_acc"}
	cjkNames = []string{"건조한갱생거북", "테스트계정", "ゲーマー太郎", "猫好き", "Пётр", "Ñandú", "Zoë"}
	palette  = []string{"#FF0000", "#0000FF", "#008000", "#B22222", "#FF7F50", "#9ACD32", "#FF4500", "#2E8B57", "#DAA520", "#D2691E", "#5F9EA0", "#1E90FF", "#FF69B4", "#8A2BE2", "#00FF7F"}
	cosmetic = []string{"premium/1", "glhf-pledge/1", "bits/100", "bits/1000", "no_audio/1", "sub-gifter/5", "turbo/1"}
	subVers  = []int{0, 2, 3, 6, 9, 12, 18, 24, 30, 36, 42, 48, 54, 60, 72}
)

func camel(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		if p != "" {
			b.WriteString(strings.ToUpper(p[:1]) + p[1:])
		}
	}
	return b.String()
}

func subBadge(rng *rand.Rand) (info, badge string) {
	months := 1 + rng.IntN(72)
	if rng.IntN(33) == 0 {
		return "founder/" + strconv.Itoa(months), "founder/0"
	}
	ver := 0
	for _, v := range subVers {
		if v <= months {
			ver = v
		}
	}
	switch r := rng.IntN(100); {
	case r < 5:
		ver += 3000
	case r < 15:
		ver += 2000
	}
	return "subscriber/" + strconv.Itoa(months), "subscriber/" + strconv.Itoa(ver)
}

func newPopulation(rng *rand.Rand, channels int, roomIDBase int64, channelName func(int) string) *population {
	pop := &population{byLogin: map[string]int32{}, byID: map[string]int32{}}
	sizes := poolSizes
	sizes[PersonaModerator] = channels * modsPerChannel
	sizes[PersonaVIP] = channels * vipsPerChannel
	sizes[PersonaBroadcaster] = channels
	total := 0
	for _, n := range sizes {
		total += n
	}
	pop.users = make([]user, 0, total)
	nextID := int64(30000000)
	newID := int64(900000000)
	for p := Persona(0); p < numPersonas; p++ {
		pop.pools[p] = pool{int32(len(pop.users)), int32(sizes[p])}
		for i := range sizes[p] {
			u := user{persona: p, channel: -1}
			var login, camelName string
			switch p {
			case PersonaBroadcaster:
				login = channelName(i)
				camelName = camel("sim", strings.TrimPrefix(login, "sim"))
				u.id = strconv.FormatInt(roomIDBase+int64(i), 10)
				u.channel = int32(i)
			case PersonaBotSwarm:
				login = pick(rng, botStem) + strconv.Itoa(1000+rng.IntN(9000)) + randToken(rng, 2, "abcdefghijklmnopqrstuvwxyz")
				camelName = login
			default:
				a, n, sep, digits := pick(rng, nameAdj), pick(rng, nameNoun), "", ""
				switch rng.IntN(4) {
				case 0:
				case 1:
					sep, digits = "_", strconv.Itoa(rng.IntN(100))
				default:
					digits = strconv.Itoa(rng.IntN(10000))
				}
				login = a + sep + n + digits
				camelName = camel(a) + sep + camel(n) + digits
			}
			for suffix := ""; ; suffix = strconv.Itoa(rng.IntN(10000)) {
				if _, taken := pop.byLogin[login+suffix]; !taken {
					login, camelName = login+suffix, camelName+suffix
					break
				}
			}
			u.login = login
			switch r := rng.IntN(100); {
			case p == PersonaBroadcaster || r < 60:
				u.display = camelName
			case r < 92 || p == PersonaBotSwarm:
				u.display = login
			case r < 96:
				u.display = strings.ToUpper(login)
			default:
				u.display = pick(rng, cjkNames) // localized display name differs from login
			}
			if u.id == "" {
				if p == PersonaBotSwarm || p == PersonaRaider {
					u.id = strconv.FormatInt(newID+rng.Int64N(11), 10)
					newID += 11
				} else {
					u.id = strconv.FormatInt(nextID+rng.Int64N(97), 10)
					nextID += 97
				}
			}
			if p != PersonaBotSwarm && rng.IntN(100) >= 15 {
				if rng.IntN(3) == 0 {
					u.color = "#" + strings.ToUpper(strconv.FormatUint(0x1000000|rng.Uint64N(0x1000000), 16)[1:])
				} else {
					u.color = pick(rng, palette)
				}
			}
			var badges []string
			switch p {
			case PersonaBroadcaster:
				badges = append(badges, "broadcaster/1")
				if rng.IntN(2) == 0 {
					badges = append(badges, "partner/1")
				}
			case PersonaModerator:
				u.mod, u.userType, u.channel = true, "mod", int32(i/modsPerChannel)
				badges = append(badges, "moderator/1")
			case PersonaVIP:
				u.vip, u.channel = true, int32(i/vipsPerChannel)
				badges = append(badges, "vip/1")
			}
			isSub := p == PersonaSubscriber ||
				(p == PersonaModerator || p == PersonaVIP) && rng.IntN(10) < 6 ||
				p == PersonaCopypasta && rng.IntN(10) < 3 ||
				(p == PersonaViewer || p == PersonaAbusive || p == PersonaSpammer) && rng.IntN(20) == 0
			if isSub {
				info, b := subBadge(rng)
				u.sub, u.badgeInfo = true, info
				badges = append(badges, b)
			}
			if p != PersonaBotSwarm && p != PersonaRaider && p != PersonaBroadcaster && rng.IntN(5) == 0 {
				c := pick(rng, cosmetic)
				u.turbo = c == "turbo/1"
				badges = append(badges, c)
			}
			if p == PersonaModerator && rng.IntN(10) == 0 {
				badges = append(badges, "partner/1")
			}
			u.badges = strings.Join(badges, ",")
			u.prefix = ":" + login + "!" + login + "@" + login + ".tmi.twitch.tv PRIVMSG #"
			pop.byLogin[login] = int32(len(pop.users))
			pop.byID[u.id] = int32(len(pop.users))
			pop.users = append(pop.users, u)
		}
	}
	return pop
}

// displayNames returns up to n display names of viewers (abuse targets).
func (pop *population) displayNames(n int) []string {
	v := pop.pools[PersonaViewer]
	out := []string{"streamer"}
	for i := int32(0); i < v.n && len(out) < n; i += 97 {
		out = append(out, pop.users[v.start+i].display)
	}
	return out
}
