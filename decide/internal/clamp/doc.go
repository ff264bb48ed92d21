// Package clamp is decide's safety clamp: the only way from a requested
// moderation action (deterministic rules or a learned policy) to an executed
// one, plus the epsilon-greedy exploration whose behaviour probabilities the
// offline-RL decision log needs.
//
// # Rules
//
// Apply takes the requested action and the context of the decision (Input)
// and returns the final action and the set of rules that changed it
// (Result). RULES.md has the table of rules and defaults; in short, in order:
//
//   - invalid: an unknown kind, a timeout without a positive length or a
//     length on another kind becomes IGNORE.
//   - latency_fallback: over the latency budget, the request is replaced by
//     the gentler of itself and the deterministic action (IGNORE if none).
//     The clamp never escalates, so a deterministic action harsher than the
//     late learned one does not replace it.
//   - timeout_bounds / raid_cap (length): a timeout longer than the channel's
//     (or, during a raid, the raid) maximum is shortened to it.
//   - snap: a timeout length that is not in event.DiscreteActions is rounded
//     DOWN to the nearest discrete length, or to DELETE below the shortest.
//   - then every action has a set of blocking rules; the result is the
//     harshest action not harsher than the snapped request that no active
//     rule blocks. Blocking rules: trust_broadcaster, trust_moderator (block
//     everything but IGNORE), max_action, timeout_bounds (timeouts outside
//     [min_timeout_s, max_timeout_s]; min is a floor on LENGTH only, a too
//     short timeout becomes DELETE, never a longer timeout), vip_cap,
//     subscriber_cap, raid_cap, raid_first_msg, escalation (all timeouts,
//     unless the system warned the user within the window or the score is
//     extreme) and cooldown (WARN and timeouts within the cooldown).
//   - escalation fallback: a timeout blocked while escalation is active
//     becomes WARN when WARN is allowed (skipping DELETE, so that the ladder
//     WARN -> TIMEOUT can start; the message stays), otherwise it walks down
//     as above (DELETE when allowed). With escalation_fallback=DELETE it
//     always walks down.
//
// Rules is empty exactly when Final == Requested; otherwise it holds the
// rules applied in the first steps plus every active rule that blocks an
// action passed over on the way down. Because the set of blocked actions
// depends on the context only (not on the request) and the walk only moves
// down, the clamp has these invariants, checked by TestApply_Property and
// FuzzApply (which also check that no allowed action was skipped needlessly
// and that every reported rule applies to the context): Final is never
// harsher than Requested; the broadcaster and moderators are never actioned;
// Final respects every active cap; Final is in event.DiscreteActions; and
// Apply is idempotent (applying it to Final returns Final with no rules).
// Allowed lists the actions that pass unchanged for a context.
//
// Apply does not allocate and takes well under 200 ns (see BenchmarkApply).
//
// # Exploration
//
// Explorer.Choose first clamps the request to the greedy action g, then, with
// probability epsilon, executes an action drawn uniformly from
// C = {a in Allowed : a strictly gentler than g}, k = |C|. IGNORE is always
// allowed, so k >= 1 unless g is IGNORE. The behaviour policy is therefore
//
//	pi_b(g)  = 1 - epsilon            if k >= 1 (g is never in C)
//	pi_b(a)  = epsilon / k            for each a in C
//	pi_b(a)  = 0                      for every other action (harsher than g,
//	                                  or not allowed)
//	pi_b(g)  = 1                      if k = 0 or epsilon = 0
//
// which sums to (1 - epsilon) + k * epsilon/k = 1. Choice carries the whole
// vector (Probs, indexed like event.DiscreteActions) and the probability of
// the executed action (Prob) for the decision log; exploration never leaves
// the allowed set, so the executed action always passes Apply unchanged. If
// the greedy action itself comes from a stochastic policy, multiply in that
// policy's probability.
//
// The draw is a pure function of the decision seed so that replays are exact
// (Python: mask every operation to 64 bits):
//
//	seed  = FNV-1a-64(message id)                     (SeedFromID)
//	next():  s += 0x9e3779b97f4a7c15; z = s           (SplitMix64)
//	         z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
//	         z = (z ^ z>>27) * 0x94d049bb133111eb
//	         return z ^ z>>31
//	u     = (next() >> 11) * 2^-53                     (Choice.Draw)
//	explore iff u < epsilon and k >= 1
//	j     = Lemire(k): x = next(); (hi, lo) = x*k as 128 bits;
//	        if lo < k { t = (2^64 - k) mod k; while lo < t { x = next(); (hi, lo) = x*k } }
//	        j = hi  (exactly uniform in [0, k))
//	executed = the j-th gentlest action of C (j = 0 is IGNORE when allowed)
//
// # JSON
//
// Limits, Config, Input and Result have JSON forms (actions as their String
// form, rules by name) so that the Python RL code can load the same limits
// and check its own implementation against Stream, which turns one JSON
// Input per line into one JSON Result per line.
package clamp
