// Package stream names the Redis Streams that connect StreamSafe-RL's
// services and holds the helpers they share for reading and writing them.
// Every key has one default here; services embed Keys in their Config so a
// deployment can rename them with STREAM_* environment variables.
package stream

import (
	"errors"

	"github.com/streamsafe-rl/streamsafe/shared/config"
)

// Default stream keys.
const (
	DefaultChat       = "streamsafe:chat"       // chat messages (ingest -> decide)
	DefaultMod        = "streamsafe:mod"        // moderator and channel events (ingest, simulator -> decide, sink)
	DefaultDecisions  = "streamsafe:decisions"  // one decision per chat message (decide -> sink)
	DefaultExecutions = "streamsafe:executions" // results of executed actions (decide executor -> sink)
	DefaultDeadLetter = "streamsafe:deadletter" // entries no consumer could process, with their reason
)

// Keys are the stream keys a service uses.
type Keys struct {
	Chat       string `envconfig:"STREAM_CHAT" default:"streamsafe:chat" desc:"chat message stream"`
	Mod        string `envconfig:"STREAM_MOD" default:"streamsafe:mod" desc:"moderator/channel event stream"`
	Decisions  string `envconfig:"STREAM_DECISIONS" default:"streamsafe:decisions" desc:"decision log stream"`
	Executions string `envconfig:"STREAM_EXECUTIONS" default:"streamsafe:executions" desc:"action execution results stream"`
	DeadLetter string `envconfig:"STREAM_DEADLETTER" default:"streamsafe:deadletter" desc:"dead-letter stream"`
}

// DefaultKeys returns the default stream keys.
func DefaultKeys() Keys {
	return Keys{Chat: DefaultChat, Mod: DefaultMod, Decisions: DefaultDecisions, Executions: DefaultExecutions, DeadLetter: DefaultDeadLetter}
}

// Validate checks that no key is empty and no two keys are equal.
func (k Keys) Validate() error {
	vals := []struct{ v, name string }{
		{k.Chat, "STREAM_CHAT"}, {k.Mod, "STREAM_MOD"}, {k.Decisions, "STREAM_DECISIONS"},
		{k.Executions, "STREAM_EXECUTIONS"}, {k.DeadLetter, "STREAM_DEADLETTER"},
	}
	var errs []error
	seen := map[string]string{}
	for _, x := range vals {
		if x.v == "" {
			errs = append(errs, config.Errorf(x.name, "must not be empty"))
			continue
		}
		if other, ok := seen[x.v]; ok {
			errs = append(errs, config.Errorf(x.name, "same key %q as %s", x.v, other))
		}
		seen[x.v] = x.name
	}
	return errors.Join(errs...)
}
