// Package decider is decide's per-batch decision pipeline: it turns a batch
// of chat stream entries into one decision each (message features, one
// feature-store round trip, state vector, risk score, policy action, clamp,
// exploration), hands actions to the executor and writes the decisions and
// the acks of the batch in one MULTI/EXEC. Core is the pure, replayable part
// of a decision; ModHandler feeds moderator events into the feature store.
package decider
