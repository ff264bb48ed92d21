// Package twitchsim simulates Twitch's chat servers closely enough that real
// IRC clients work against it: IRC over WebSocket (several lines per text
// frame under load) and over plain TCP, the Twitch handshake (CAP, PASS, NICK,
// 001-376, GLOBALUSERSTATE), JOIN replies (JOIN echo, 353, 366, USERSTATE,
// ROOMSTATE), PING/PONG, RECONNECT with a grace period, CLEARCHAT and
// CLEARMSG, and a JOIN rate limit.
//
// A single generator goroutine writes PRIVMSG lines shaped like real Twitch
// traffic (all tags, UUID ids, code-point emote ranges, replies, ACTIONs,
// non-ASCII text) into channels #simchan0..N-1 at a configurable total rate,
// mixing personas (viewers, subscribers, VIPs, moderators, broadcasters,
// spammers, link droppers, copypasta waves, bot swarms, abusive users and
// raiders). The sequence of generated messages is deterministic for a seed.
// Optionally every generated PRIVMSG is written as one JSON line of ground
// truth (see TruthRecord).
//
// # Delivery accounting
//
// Every generated PRIVMSG ends in exactly one of these outcomes (Stats):
//
//   - sent: its bytes were written successfully (conn.Write / WebSocket frame
//     write returned without error) to at least one connection joined to its
//     channel. A message delivered to two connections (make-before-break
//     reconnect) counts once.
//   - undelivered: no connection was joined to its channel when it was
//     generated.
//   - dropped: at least one connection was joined, but it reached none of
//     them (queues full, or every such connection closed before writing it).
//
// generated = sent + undelivered + dropped + inflight, where inflight is the
// number still queued; it drains to 0 once generation stops and queues are
// written. DroppedSlow counts per-connection copies discarded because that
// connection's bounded queue was full; a connection whose queue stays full
// for SlowTimeout is closed (SlowDisconnects).
//
// # Control API (HTTP, JSON responses, on the control listener)
//
//	GET  /stats                                  Stats
//	GET  /healthz                                {"ok":true}
//	POST /control/reconnect[?conn=ID]            RECONNECT all (or one) connection(s); {"affected":n}
//	POST /control/disconnect[?conn=ID][&midline=1]  abrupt close; {"affected":n}
//	POST /control/rate?value=N                   total msgs/s; {"rate":N}
//	POST /control/raid[?channel=simchan3][&viewers=N][&duration=20s][&multiplier=10]  202 {"ok":true}
//	POST /control/clearchat?channel=C[&user=LOGIN|&user_id=ID][&duration=SECONDS|20s]  {"affected":n}
//	POST /control/clearmsg?msg_id=ID[&channel=C] {"affected":n}; 404 for unknown/expired ids
//	POST /control/pause | /control/resume | /control/stop
//	GET  /control/lookup?msg_id=ID | ?user=LOGIN_OR_ID   TruthRecord | User
//
// Errors are {"error":"..."} with 400 (bad parameter), 404 (unknown
// channel/user/message), 409 (generation stopped) or 405 (wrong method).
//
// With Config.Helix set, the same listener also serves the simulated Helix
// API (a Helix client uses the base URL ControlURL()+"/helix"; answers and
// errors as Twitch's, see Helix) and its control endpoints:
//
//	POST   /helix/moderation/bans?broadcaster_id=B&moderator_id=M   Ban User; {"data":{"user_id":U[,"duration":S][,"reason":R]}}
//	DELETE /helix/moderation/bans?broadcaster_id=B&moderator_id=M&user_id=U   Unban User (also lifts a timeout)
//	DELETE /helix/moderation/chat?broadcaster_id=B&moderator_id=M[&message_id=ID]   Delete Chat Messages
//	POST   /helix/moderation/warnings?broadcaster_id=B&moderator_id=M   Warn Chat User; {"data":{"user_id":U,"reason":R}}
//	POST   /control/helix-faults?status=429|5xx[&count=N][&share=F]   inject failures; {"faults":HelixFaults,"stats":HelixStats}
//	GET    /control/helix-faults                  the same body
//	DELETE /control/helix-faults                  clear the faults; the same body
//	GET    /control/helix-actions                 every accepted action, Helix and human, as a JSON array of HelixAction
//
// and GET /stats gains "helix" (HelixStats) and, with Config.Moderators,
// "moderators" (ModeratorStats).
//
// # Simulated human moderators
//
// Config.Moderators adds Moderators: every generated PRIVMSG's TruthRecord
// is handed to Moderators.Observe on the generation loop (a bounded inbox;
// see SetObserver for the per-message cost); every ModeratorTick they
// judge the system's Helix actions against the ground truth. An abusive
// message the system did not act on within MissDelay gets, for MissShare
// of them, a human CLEARCHAT (timeout) or CLEARMSG in chat; a system
// timeout or ban of a user whose recent messages were all benign is lifted
// after ReverseDelay for ReverseShare of them, and an unban/untimeout
// event (source "sim") goes to Config.ModSink, e.g. RedisModSink writing
// the mod stream, because IRC does not show unbans.
//
// # Deviations from Twitch
//
//   - Excess JOINs (over JoinLimit per JoinWindow) are dropped with
//     "@msg-id=msg_ratelimit :tmi.twitch.tv NOTICE #chan :JOIN rate limit
//     exceeded ..."; Twitch's own reaction is undocumented.
//   - Anonymous justinfan<digits> clients get no GLOBALUSERSTATE or USERSTATE.
//   - A client's PRIVMSG is answered with USERSTATE but not relayed to others.
//   - No JOIN/PART lines of other users are sent (like a room with more
//     than 1,000 chatters).
//   - RECONNECT reaches only clients with twitch.tv/commands, but every
//     targeted connection is closed after ReconnectGrace.
//   - first-msg is random per message (bots always 1, raiders 70 %), not
//     tracked per user and channel; subscriber months are per user.
//   - A timed-out or banned simulated user stops chatting until the timeout
//     ends (Unban lifts it); messages then come from other users, so the
//     rate is unchanged.
//   - No TLS.
//
// # Use in tests
//
//	srv, err := twitchsim.New(cfg) // cfg from DefaultConfig with addresses "127.0.0.1:0"
//	if err := srv.Start(ctx); err != nil { ... }
//	defer srv.Close()
//	dial srv.TCPAddr() or srv.WSURL(); control at srv.ControlURL()
//
// With moderation: before New, set
//
//	h, m := twitchsim.DevHelixConfig(), twitchsim.DefaultModeratorsConfig()
//	cfg.Helix, cfg.Moderators, cfg.ModSink = &h, &m, twitchsim.NewRedisModSink(addr, "")
//
// then call Helix at srv.ControlURL()+"/helix" with Client-Id
// DevHelixClientID, "Authorization: Bearer "+DevHelixToken and
// moderator_id BotUserID(DevBotLogin).
package twitchsim
