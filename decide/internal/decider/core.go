package decider

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/streamsafe-rl/streamsafe/decide/internal/clamp"
	"github.com/streamsafe-rl/streamsafe/decide/internal/features"
	"github.com/streamsafe-rl/streamsafe/shared/event"
)

// Policy is the deterministic risk policy (decide/internal/risk.Policy): a
// score in [0, 1] from the state vector, and the action it asks for.
type Policy interface {
	Score(v *features.Vector, channel []byte) float64
	Decide(score float64, channel []byte) event.Action
	Version() string
}

// Core is the pure part of a decision: state vector, risk score, policy
// action, clamp and exploration. Given the same Inputs (and the same policy,
// clamp limits and epsilon) it produces the same decision, bit for bit; the
// live path and `decide replay` both use it.
type Core struct {
	Policy       Policy
	Clamp        *clamp.Clamp
	Explorer     *clamp.Explorer // nil: no exploration
	ClampVersion string          // see ClampVersion
}

// Inputs is the logged state of one decision.
type Inputs struct {
	DecisionID string
	Channel    []byte
	Msg        *features.Message
	Trust      features.Trust
	Snap       features.Snapshot
	NowMs      int64 // event_time_ms
	OverBudget bool
	// FailureReason, when set (feature store failed), forces IGNORE: the
	// vector and score are still computed and logged.
	FailureReason string
}

// Scored is the first half of a decision.
type Scored struct {
	Score         float64
	Deterministic event.Action
}

// Score builds the state vector into v and scores it.
func (c *Core) Score(in *Inputs, v *features.Vector) Scored {
	features.Build(in.Msg, in.Trust, &in.Snap, in.NowMs, v)
	s := c.Policy.Score(v, in.Channel)
	return Scored{Score: s, Deterministic: c.Policy.Decide(s, in.Channel)}
}

// Finish clamps (and explores) the scored decision and fills the decision
// fields of d: action_*, clamp_rules, decision_path, failure_reason,
// policy/clamp/action-set versions, exploration and probabilities.
func (c *Core) Finish(in *Inputs, s Scored, d *event.Decision) {
	d.RiskScore = s.Score
	d.ActionDeterministic = s.Deterministic
	d.ActionRequested = s.Deterministic
	d.PolicyVersion = c.Policy.Version()
	d.ClampVersion = c.ClampVersion
	d.ActionSet = event.ActionSetVersion
	d.OverBudget = in.OverBudget
	d.FailureReason = in.FailureReason
	d.ExploreEps = c.Explorer.Epsilon()
	d.ClampRules = d.ClampRules[:0]
	if in.FailureReason != "" {
		d.Path = event.PathFailOpen
		d.ActionFinal, d.ActionFinalIdx = event.Action{}, 0
		d.Explored, d.ExploreDraw, d.BehaviourProb = false, 0, 1
		d.Probs = [event.NumDiscreteActions]float64{1}
		return
	}
	ci := clamp.Input{
		Requested: s.Deterministic, Deterministic: s.Deterministic, HasDeterministic: true, Score: s.Score,
		Broadcaster: in.Trust.Broadcaster, Moderator: in.Trust.Moderator, VIP: in.Trust.VIP,
		SubMonths: in.Trust.SubMonths, FirstMsg: in.Trust.FirstMsg,
		LastWarnMs: in.Snap.LastSysWarnMs, LastActionMs: in.Snap.LastSysActionMs, NowMs: in.NowMs,
		RaidActive: in.Snap.RaidActive, OverBudget: in.OverBudget,
	}
	res, ch := c.Explorer.Choose(c.Clamp, in.Channel, &ci, clamp.SeedFromID([]byte(in.DecisionID)))
	d.ActionFinal, d.ActionFinalIdx = ch.Action, ch.Index
	d.ClampRules = res.Rules.Names(d.ClampRules)
	d.Explored, d.ExploreDraw, d.BehaviourProb = ch.Explored, ch.Draw, ch.Prob
	d.Probs = ch.Probs
	d.Path = event.PathDeterministic
	if ch.Explored {
		d.Path = event.PathExplore
	}
}

// Decide is Score then Finish, with the vector copied into d.Features.
func (c *Core) Decide(in *Inputs, v *features.Vector, d *event.Decision) {
	s := c.Score(in, v)
	d.Features = append(d.Features[:0], v[:]...)
	d.FeatureSet = features.SetVersion
	c.Finish(in, s, d)
}

// ClampVersion returns the first 12 hex digits of the SHA-256 of the clamp
// configuration's JSON encoding (which writes every field, channels sorted),
// so two deployments with the same limits have the same version.
func ClampVersion(cfg clamp.Config) (string, error) {
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("encode clamp config: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6]), nil
}

// PackMessage appends the message features in
// event.DecisionMsgFeatureNames order to dst.
func PackMessage(m *features.Message, dst []float64) []float64 {
	return append(dst,
		float64(m.Runes), float64(m.Letters), float64(m.Upper), float64(m.Lower), float64(m.Symbols),
		float64(m.LongestRun), float64(m.RepeatChars), float64(m.Links), float64(m.AllowedLinks),
		float64(m.Mentions), float64(m.EmoteCount), float64(m.EmoteChars), float64(m.TermHits), float64(m.FirstTerm),
		float64(m.CombiningMarks), float64(m.ArtChars), float64(m.ObfuscatedChars), b2f(m.ReplyStripped), b2f(m.Truncated),
		float64(m.CapsRatio), float64(m.SymbolRatio), float64(m.RepeatRatio), float64(m.EmoteRatio),
		float64(m.ZalgoRatio), float64(m.ArtRatio), float64(m.ObfuscationRatio),
	)
}

// UnpackMessage sets the exported fields of m from packed values (the
// inverse of PackMessage) and hash. m's normalisation buffer is untouched
// (Normalized is meaningless afterwards); Build needs only these fields.
func UnpackMessage(p []float64, hash uint64, m *features.Message) error {
	if len(p) != event.DecisionMsgFeatureLen {
		return fmt.Errorf("unpack message features: %d values, want %d", len(p), event.DecisionMsgFeatureLen)
	}
	m.Runes, m.Letters, m.Upper, m.Lower, m.Symbols = int(p[0]), int(p[1]), int(p[2]), int(p[3]), int(p[4])
	m.LongestRun, m.RepeatChars, m.Links, m.AllowedLinks = int(p[5]), int(p[6]), int(p[7]), int(p[8])
	m.Mentions, m.EmoteCount, m.EmoteChars, m.TermHits, m.FirstTerm = int(p[9]), int(p[10]), int(p[11]), int(p[12]), int(p[13])
	m.CombiningMarks, m.ArtChars, m.ObfuscatedChars = int(p[14]), int(p[15]), int(p[16])
	m.ReplyStripped, m.Truncated = p[17] != 0, p[18] != 0
	m.CapsRatio, m.SymbolRatio, m.RepeatRatio, m.EmoteRatio = float32(p[19]), float32(p[20]), float32(p[21]), float32(p[22])
	m.ZalgoRatio, m.ArtRatio, m.ObfuscationRatio = float32(p[23]), float32(p[24]), float32(p[25])
	m.Hash = hash
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// TrustOf returns the author's trust flags from a chat event.
func TrustOf(c *event.Chat) features.Trust {
	return features.Trust{
		Broadcaster: c.Broadcaster || (c.UserID != "" && c.UserID == c.RoomID), Moderator: c.Moderator, VIP: c.VIP,
		Subscriber: c.Subscriber, SubMonths: int32(min(max(c.SubMonths, 0), 1<<31-1)), FirstMsg: c.FirstMsg,
		ReturningChatter: c.ReturningChatter, IsReply: c.ReplyParentMsgID != "", IsAction: c.IsAction,
	}
}

// TrustOfDecision returns the trust flags a decision logged.
func TrustOfDecision(d *event.Decision) features.Trust {
	return features.Trust{
		Broadcaster: d.Broadcaster, Moderator: d.Moderator, VIP: d.VIP, Subscriber: d.Subscriber, SubMonths: d.SubMonths,
		FirstMsg: d.FirstMsg, ReturningChatter: d.ReturningChatter, IsReply: d.IsReply, IsAction: d.IsAction,
	}
}

// MaxFutureSkewMs bounds how far ahead of the read a message's own time may
// be before EventTimeMs distrusts it.
const MaxFutureSkewMs = 60_000

// EventTimeMs is the decision clock of a chat message: tmi_sent_ts, else
// received_at_us/1000, else readAtMs. A time more than MaxFutureSkewMs
// ahead of readAtMs (a broken clock or a forged entry) is replaced by
// readAtMs: the feature store buckets its state by the newest message time
// of a batch, so one far-future time would hide every history of its
// batch. Older times are kept (a backlog after an outage is legitimate).
func EventTimeMs(c *event.Chat, readAtMs int64) int64 {
	return eventClockMs(c.TmiSentTsMs, c.ReceivedAtUs, readAtMs)
}

// eventClockMs is EventTimeMs's rule on the timestamps chat and mod-stream
// entries both carry.
func eventClockMs(tmiSentTsMs, receivedAtUs, readAtMs int64) int64 {
	t := readAtMs
	switch {
	case tmiSentTsMs > 0:
		t = tmiSentTsMs
	case receivedAtUs > 0:
		t = receivedAtUs / 1000
	}
	if t > readAtMs+MaxFutureSkewMs {
		return readAtMs
	}
	return t
}
