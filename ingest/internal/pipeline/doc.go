// Package pipeline turns the IRC lines read by the twitch client into
// events on Redis Streams, in three stages joined by bounded channels:
//
//	twitch readers -> Parser -> Limiter -> Writer -> Redis (XADD)
//
// Parser parses chat and moderation lines (irc.Parse, ParseChat, ParseMod),
// drops duplicates by message id (a make-before-break reconnect delivers
// some lines twice) and encodes event.Chat and event.Mod entries. Limiter
// applies the per-channel GCRA limit to chat messages, one Redis round trip
// per batch, failing open when Redis errs. Writer sends pipelined XADDs with
// approximate MAXLEN trimming, flushed by size or time, and retries only the
// entries Redis did not accept.
//
// Every stage blocks when the next one is full, so a slow Redis stops the
// readers instead of growing memory. Every line is accounted for exactly
// once (see package metrics). Stages run until their input channel is
// closed and then close their output; their ctx is the drain deadline:
// once it is done, whatever is still queued is dropped and counted as
// shutdown.
package pipeline
