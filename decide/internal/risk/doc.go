// Package risk is decide's deterministic baseline policy: a logistic score
// over the feature vector (features.Vector) and score thresholds that map to
// moderation actions, all read from a versioned JSON policy file such as
// decide/policies/baseline-v1.json.
//
// A Policy is loaded and validated once (Load) and is then read-only and safe
// for concurrent use. Scoring and deciding allocate nothing; per-channel
// overrides are resolved at load time into complete parameter sets, so the
// per-message lookup is one map access. The score is computed in a fixed order
// without fused multiply-adds, so identical input gives identical output on a
// given platform.
package risk
