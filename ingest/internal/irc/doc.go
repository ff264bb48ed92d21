// Package irc parses Twitch IRC lines at the byte level for the ingest hot path.
//
// Design:
//
//   - Bytes in, slices out. Parse fills a caller-owned Message whose fields are
//     sub-slices of the input line; nothing is copied, decoded or allocated.
//     The line must stay unmodified for as long as the Message (or a Chat or
//     Mod derived from it) is in use.
//   - No UTF-8 decoding, no regexp, no maps. Parse scans the line once, left
//     to right: the tag section is skipped with one bytes.IndexByte, then
//     prefix, command, middle params and trailing param are cut at spaces.
//   - Tags stay escaped. Message.Tag finds one key with a linear scan.
//     ParseChat and ParseMod walk the tag section once, finding each ';'
//     eight bytes at a time in a uint64 (SWAR, swar.go); ParseChat then
//     dispatches on the first byte of the tag and matches "key=" as a
//     constant prefix. Unescape (IRCv3 rules, one left-to-right pass) is left
//     to the caller and copies only when a value contains a backslash.
//   - Early filtering: CommandOf classifies a line from its command word
//     alone, so uninteresting lines are dropped before any tag is looked at.
//   - Bounded input: Parse rejects lines longer than a caller-chosen limit
//     (DefaultMaxLineBytes) with ErrTooLong. Malformed lines return errors
//     matching ErrMalformed; nothing panics on bad input (FuzzParse).
//
// Twitch specifics handled here: CTCP ACTION bodies, emote ranges counted in
// code points (non-continuation bytes) with bounds checks, emote ids
// containing '/', vip=0, key-only tags, values containing '=', shared chat
// and reply tags, negative tmi-sent-ts, and the CLEARCHAT
// clear/timeout/ban rule. NextLine splits a WebSocket frame that carries
// several CRLF-terminated lines.
package irc
