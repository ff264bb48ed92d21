// Package executor carries out decide's moderation actions against Twitch's
// Helix API, asynchronously and at most once.
//
// The decision path calls Pool.Submit, which never blocks: it puts the
// Request on a bounded queue (Config.QueueSize) and returns true, or counts a
// drop and returns false when the queue is full or the pool is closed. A
// claimer goroutine takes what is queued (up to 64 requests at a time),
// and for each request
//
//  1. validates it (a DELETE needs a message id, since Helix clears the whole
//     chat when message_id is missing; a TIMEOUT needs 1..1,209,600 s, since
//     Helix bans permanently when duration is missing);
//  2. claims the idempotency key "<prefix><msg_id>:<ACTION KIND>" with
//     SET NX EX (Config.IdempotencyTTL), all of them in one pipelined round
//     trip. An existing key means an earlier request already acted on this
//     message with this kind of action, so the request is reported as
//     StatusDuplicate and nothing is sent. When Redis cannot answer, the
//     requests are not acted on (StatusIdempotencyUnavailable): acting
//     without the check could act twice.
//
// Config.Workers goroutines take the claimed requests (so at most Workers
// calls are out at once, and Config.RequestTimeout runs from the claim); a
// worker
//
//  3. hands it to the Backend: Helix (HTTP calls with rate limiting and
//     bounded retries) or DryRun (log and record only; the default when no
//     Twitch credentials are configured);
//  4. logs the Result, counts it in Prometheus metrics (docs/metrics.md) and
//     writes it to the executions stream (Result.Values lists the fields).
//
// # At most once
//
// The key is claimed before the first HTTP call and never deleted, whatever
// the outcome. A crash between the claim and the call therefore loses the
// action instead of repeating it, and a request that failed permanently (or
// ran out of retries) is not tried again when the same message is
// redelivered. Retries happen only inside one Execute call, bounded by
// HelixConfig.MaxRetries and Config.RequestTimeout. Helix timeouts and
// deletes are idempotent at Twitch; a warning is not, so a 5xx that Twitch
// did process before failing can, after a retry, warn a user twice.
//
// # Rate limits
//
// Helix allows 800 points per minute per client id and user (one point per
// call) and, observed but undocumented, 100 bans per 30 s per channel. The
// Helix backend keeps a sliding-window limiter per channel for timeouts
// (HelixConfig.ChannelBanLimit per ChannelBanWindow, 95 per 30 s by default)
// and a global one for all calls (GlobalLimit per GlobalWindow): no window of
// that length ever holds more calls than the limit. A timeout waiting for its
// channel's slot waits off the worker, so a burst in one channel does not
// hold up the others; a slot that would only come after the request's
// deadline is not booked, and the request fails at once. The backend also
// tracks the Ratelimit-Limit, -Remaining and -Reset headers of every response
// and, once Remaining reaches 0, waits until Reset. A 429 is retried after
// Ratelimit-Reset plus jitter, a 5xx or a network error after an exponential
// backoff with full jitter; a 400 "user is already banned" counts as done
// (StatusAlready); any other 4xx fails at once.
//
// Secrets (the user access token and the client id) are held in
// config.Secret and never logged.
package executor
