// Package event defines the events that flow between StreamSafe-RL services on
// Redis Streams: chat messages and moderator events written by ingest, the
// decision log and the executed actions written by decide, and the moderation
// actions that decide chooses. Each event knows how to encode itself as the
// field/value pairs of one stream entry and how to decode itself back, so the
// wire format lives in one place.
//
// Each event also has a JSON form, its logical record as schemas/*.json
// describe it (chat.json, mod.json, log_event.json, execution.json): one
// property per value, named as the stream field, plus "schema_version".
// Decision's grouped stream fields are expanded into one typed property per
// value; no property is ever null (empty lists are [], absent values "" or
// 0, as on the stream). Text that is not valid UTF-8 has its invalid bytes
// replaced by U+FFFD in JSON. Unmarshalling is lenient like the stream
// decoders (unknown properties are ignored) but refuses another
// schema_version.
//
// Validate (on Chat, Mod, Decision and Execution) enforces the constraints
// of those schemas without a JSON Schema library and without allocating, for
// consumers that check every event; the schemas package tests that both
// agree. Package eventtest has valid examples of every kind.
package event
