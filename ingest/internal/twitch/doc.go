// Package twitch reads Twitch chat over IRC: it dials WebSocket (ws://,
// wss://) or raw TCP (irc://, ircs://) connections, performs the Twitch
// handshake (CAP REQ, PASS or anonymous justinfan login, NICK), joins the
// configured channels within the JOIN rate limit, keeps the link alive
// (answers PING at once, pings an idle link and reconnects when no PONG
// comes back) and replaces connections without gaps: on RECONNECT it opens,
// authenticates and joins a new connection while the old one keeps
// delivering, and closes the old one only when the new one has joined every
// channel. Errors reconnect with exponential backoff and full jitter; an
// authentication failure stops the client with ErrAuth.
//
// Lines are read with bounded buffers (an over-long line is counted and
// discarded without growing any buffer), classified by their command word,
// and protocol lines are consumed here. Chat and moderation lines are copied
// into pooled Batches and handed to the ingest pipeline over a bounded
// channel; when the pipeline is slow the reader blocks, which is the
// service's backpressure.
package twitch
