package irc

import "bytes"

// Command is the kind of an IRC line, recognised from its command word.
type Command uint8

// Commands the ingest service distinguishes. Everything else is CmdOther.
const (
	CmdOther           Command = iota
	CmdPrivmsg                 // PRIVMSG: a chat message
	CmdClearChat               // CLEARCHAT: chat clear, timeout or ban
	CmdClearMsg                // CLEARMSG: one message deleted
	CmdUserNotice              // USERNOTICE: sub, raid, announcement, ...
	CmdRoomState               // ROOMSTATE: room settings (full or partial)
	CmdPing                    // PING: server keepalive, must be answered
	CmdPong                    // PONG: answer to a client PING
	CmdJoin                    // JOIN
	CmdPart                    // PART
	CmdNames                   // numerics 353 (NAMES reply) and 366 (end of NAMES)
	CmdReconnect               // RECONNECT: server asks the client to reconnect
	CmdNotice                  // NOTICE
	CmdWelcome                 // numerics 001..376 except 353 and 366 (login succeeded, MOTD)
	CmdCap                     // CAP: capability negotiation
	CmdGlobalUserState         // GLOBALUSERSTATE
	CmdUserState               // USERSTATE
	CmdWhisper                 // WHISPER
	numCommands
)

var commandNames = [numCommands]string{
	CmdOther:           "OTHER",
	CmdPrivmsg:         "PRIVMSG",
	CmdClearChat:       "CLEARCHAT",
	CmdClearMsg:        "CLEARMSG",
	CmdUserNotice:      "USERNOTICE",
	CmdRoomState:       "ROOMSTATE",
	CmdPing:            "PING",
	CmdPong:            "PONG",
	CmdJoin:            "JOIN",
	CmdPart:            "PART",
	CmdNames:           "NAMES",
	CmdReconnect:       "RECONNECT",
	CmdNotice:          "NOTICE",
	CmdWelcome:         "WELCOME",
	CmdCap:             "CAP",
	CmdGlobalUserState: "GLOBALUSERSTATE",
	CmdUserState:       "USERSTATE",
	CmdWhisper:         "WHISPER",
}

// String returns the upper-case command name ("PRIVMSG", "NAMES", "WELCOME",
// "OTHER", ...).
func (c Command) String() string {
	if c < numCommands {
		return commandNames[c]
	}
	return "OTHER"
}

// CommandOf classifies line by its command word without parsing tags: the
// tag section is skipped up to its first space and the prefix up to the next.
// It never fails; anything unrecognised or malformed is CmdOther.
func CommandOf(line []byte) Command {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1] // as Parse does
	}
	i := 0
	if len(line) > 0 && line[0] == '@' {
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 {
			return CmdOther
		}
		i = skipSpaces(line, sp)
	}
	if i < len(line) && line[i] == ':' {
		sp := bytes.IndexByte(line[i:], ' ')
		if sp < 0 {
			return CmdOther
		}
		i = skipSpaces(line, i+sp)
	}
	end := i
	for end < len(line) && line[end] != ' ' {
		end++
	}
	return lookupCommand(line[i:end])
}

// lookupCommand maps a command word to its Command. Letters are matched
// case-insensitively; numerics must be exactly three digits.
func lookupCommand(w []byte) Command {
	if len(w) == 3 && isDigit(w[0]) && isDigit(w[1]) && isDigit(w[2]) {
		n := int(w[0]-'0')*100 + int(w[1]-'0')*10 + int(w[2]-'0')
		switch {
		case n == 353 || n == 366:
			return CmdNames
		case n >= 1 && n <= 376:
			return CmdWelcome
		}
		return CmdOther
	}
	if c := lookupUpper(w); c != CmdOther {
		return c
	}
	// Commands are case-insensitive; Twitch sends upper case, so folding is
	// the slow path. The longest known word is GLOBALUSERSTATE (15 bytes).
	var up [15]byte
	if len(w) == 0 || len(w) > len(up) {
		return CmdOther
	}
	lower := false
	for i, b := range w {
		if 'a' <= b && b <= 'z' {
			b -= 'a' - 'A'
			lower = true
		}
		up[i] = b
	}
	if !lower {
		return CmdOther
	}
	return lookupUpper(up[:len(w)])
}

// lookupUpper maps an upper-case command word to its Command.
func lookupUpper(w []byte) Command {
	switch string(w) {
	case "PRIVMSG":
		return CmdPrivmsg
	case "CLEARCHAT":
		return CmdClearChat
	case "CLEARMSG":
		return CmdClearMsg
	case "USERNOTICE":
		return CmdUserNotice
	case "ROOMSTATE":
		return CmdRoomState
	case "PING":
		return CmdPing
	case "PONG":
		return CmdPong
	case "JOIN":
		return CmdJoin
	case "PART":
		return CmdPart
	case "RECONNECT":
		return CmdReconnect
	case "NOTICE":
		return CmdNotice
	case "CAP":
		return CmdCap
	case "GLOBALUSERSTATE":
		return CmdGlobalUserState
	case "USERSTATE":
		return CmdUserState
	case "WHISPER":
		return CmdWhisper
	}
	return CmdOther
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

func isLetter(b byte) bool { return ('a' <= b && b <= 'z') || ('A' <= b && b <= 'Z') }

// skipSpaces returns the index of the first non-space byte at or after i.
func skipSpaces(line []byte, i int) int {
	for i < len(line) && line[i] == ' ' {
		i++
	}
	return i
}
