// Package event defines the events that flow between StreamSafe-RL services on
// Redis Streams: chat messages and moderator events written by ingest, and the
// moderation actions that decide chooses. Each event knows how to encode itself
// as the field/value pairs of one stream entry and how to decode itself back,
// so the wire format lives in one place.
package event
