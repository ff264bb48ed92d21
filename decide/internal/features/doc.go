// Package features turns one chat message, its author's trust flags and the
// feature-store Snapshot into the fixed-order state vector that both the
// deterministic risk score and the learned policy read, and that decide logs as
// the RL state.
//
// The per-message hot path is allocation-free: ComputeMessage fills a
// caller-owned Message (which carries its own normalisation buffer), the
// blocked-term trie (BlockedTerms) and the link allow-list (LinkAllowList) are
// compiled once, and Build writes into a caller-owned Vector. Build is a pure
// function of its arguments (no clock reads, no map iteration), so a logged
// vector can be recomputed exactly when a decision is replayed.
//
// The vector layout is versioned by SetVersion and described by Names; the same
// list is published for the Python tooling in schemas/features/<SetVersion>.json.
package features
