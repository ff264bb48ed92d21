// Package schemas holds the versioned JSON Schemas (draft 2020-12) of
// StreamSafe-RL's events and of the RL state and action set, embedded from
// the JSON files beside it: chat.json, mod.json, log_event.json (the
// decision log), execution.json, state.json (feature set fs-1, named in
// features/fs-1.json) and action.json (action set as-1).
//
// Each schema's $id carries its version
// (https://streamsafe-rl.dev/schemas/<name>/<version>.json), and every event
// carries the same version in its schema_version property (the state and
// the action set in feature_set and action_set). The files are frozen:
// REGISTRY.txt records the SHA-256 of every released (file, version), and a
// test fails when a file changes without a version bump. Compile resolves
// every $ref to the embedded files; it never fetches anything.
//
// The Go event types in shared/event are the other half of the contract:
// their JSON form validates against these schemas and their Validate
// methods enforce the same constraints without a JSON Schema library.
package schemas
