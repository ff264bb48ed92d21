package twitchsim

// Persona is the kind of simulated chatter that wrote a message.
type Persona uint8

// Personas. Weights (Config.Weights) choose among all but PersonaRaider,
// which only appears during raids.
const (
	PersonaViewer Persona = iota
	PersonaSubscriber
	PersonaVIP
	PersonaModerator
	PersonaBroadcaster
	PersonaSpammer
	PersonaLinkDropper
	PersonaCopypasta
	PersonaBotSwarm
	PersonaAbusive
	PersonaRaider
	numPersonas
)

var personaNames = [numPersonas]string{
	"viewer", "subscriber", "vip", "moderator", "broadcaster", "spammer",
	"link_dropper", "copypasta", "bot_swarm", "abusive", "raider",
}

// String returns the snake_case name used in truth records and weights.
func (p Persona) String() string {
	if p < numPersonas {
		return personaNames[p]
	}
	return "unknown"
}

// Category classifies the content of a message for evaluation.
type Category uint8

// Categories. Only CategoryChat and CategoryRaid are benign; CategoryLinkAllowed
// links point at allow-listed domains (AllowedLinkDomains).
const (
	CategoryChat Category = iota
	CategorySpam
	CategoryLinkAllowed
	CategoryLinkBlocked
	CategoryCopypasta
	CategoryBot
	CategoryAbuse
	CategoryRaid
	numCategories
)

var categoryNames = [numCategories]string{
	"chat", "spam", "link_allowed", "link_blocked", "copypasta", "bot", "abuse", "raid",
}

// String returns the snake_case name used in truth records.
func (c Category) String() string {
	if c < numCategories {
		return categoryNames[c]
	}
	return "unknown"
}

// Obfuscation is how a blocked term was disguised in an abusive message.
type Obfuscation uint8

// Obfuscations of blocked terms.
const (
	ObfuscationNone       Obfuscation = iota
	ObfuscationLeet                   // 1d10t
	ObfuscationConfusable             // Cyrillic/Greek look-alike letters
	ObfuscationZeroWidth              // U+200B/U+200C/U+200D/U+2060 between letters
	ObfuscationZalgo                  // combining diacritics on every letter
	ObfuscationSpaced                 // i d i o t
	numObfuscations
)

var obfuscationNames = [numObfuscations]string{"none", "leet", "confusable", "zero_width", "zalgo", "spaced"}

// String returns the snake_case name used in truth records.
func (o Obfuscation) String() string {
	if o < numObfuscations {
		return obfuscationNames[o]
	}
	return "unknown"
}
