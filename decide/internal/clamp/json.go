package clamp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/streamsafe-rl/streamsafe/shared/event"
)

// ErrBadInput is wrapped by the error Stream returns when some lines could
// not be decoded.
var ErrBadInput = errors.New("clamp: bad input line")

// jsonAction is an event.Action that reads and writes JSON as its String form
// ("IGNORE", "TIMEOUT_600"). It also reads "TIMEOUT_<n>" with n <= 0 so that
// the clamp, not the decoder, rejects such a request (RuleInvalid).
type jsonAction event.Action

func (a jsonAction) MarshalText() ([]byte, error) {
	if a.Kind > event.Timeout || (a.Kind != event.Timeout && a.DurationS != 0) {
		return nil, fmt.Errorf("marshal action %v: %w", event.Action(a), event.ErrUnknownAction)
	}
	return []byte(event.Action(a).String()), nil
}

func (a *jsonAction) UnmarshalText(b []byte) error {
	s := string(b)
	if rest, ok := strings.CutPrefix(s, "TIMEOUT_"); ok {
		if d, err := strconv.ParseInt(rest, 10, 32); err == nil && d <= 0 {
			*a = jsonAction{Kind: event.Timeout, DurationS: int32(d)}
			return nil
		}
	}
	x, err := event.ParseAction(s)
	if err != nil {
		return err
	}
	*a = jsonAction(x)
	return nil
}

// inputJSON is the JSON form of an Input, plus Stream's "id" and "channel".
type inputJSON struct {
	ID            string      `json:"id,omitempty"`
	Channel       string      `json:"channel,omitempty"`
	Requested     *jsonAction `json:"requested"`
	Deterministic *jsonAction `json:"deterministic,omitempty"`
	Score         float64     `json:"score"`
	Broadcaster   bool        `json:"broadcaster,omitempty"`
	Moderator     bool        `json:"moderator,omitempty"`
	VIP           bool        `json:"vip,omitempty"`
	SubMonths     int32       `json:"sub_months,omitempty"`
	FirstMsg      bool        `json:"first_msg,omitempty"`
	LastWarnMs    int64       `json:"last_warn_ms,omitempty"`
	LastActionMs  int64       `json:"last_action_ms,omitempty"`
	NowMs         int64       `json:"now_ms"`
	RaidActive    bool        `json:"raid_active,omitempty"`
	OverBudget    bool        `json:"over_budget,omitempty"`
}

func (j *inputJSON) input() (Input, error) {
	if j.Requested == nil {
		return Input{}, errors.New(`missing "requested"`)
	}
	in := Input{
		Requested: event.Action(*j.Requested), Score: j.Score,
		Broadcaster: j.Broadcaster, Moderator: j.Moderator, VIP: j.VIP, SubMonths: j.SubMonths, FirstMsg: j.FirstMsg,
		LastWarnMs: j.LastWarnMs, LastActionMs: j.LastActionMs, NowMs: j.NowMs,
		RaidActive: j.RaidActive, OverBudget: j.OverBudget,
	}
	if j.Deterministic != nil {
		in.Deterministic, in.HasDeterministic = event.Action(*j.Deterministic), true
	}
	return in, nil
}

// MarshalJSON writes in as one JSON object. Actions are their String form;
// "deterministic" is present exactly when HasDeterministic is set; false,
// zero and "never" fields are omitted except "score" and "now_ms".
func (in Input) MarshalJSON() ([]byte, error) {
	req := jsonAction(in.Requested)
	j := inputJSON{
		Requested: &req, Score: in.Score,
		Broadcaster: in.Broadcaster, Moderator: in.Moderator, VIP: in.VIP, SubMonths: in.SubMonths, FirstMsg: in.FirstMsg,
		LastWarnMs: in.LastWarnMs, LastActionMs: in.LastActionMs, NowMs: in.NowMs,
		RaidActive: in.RaidActive, OverBudget: in.OverBudget,
	}
	if in.HasDeterministic {
		det := jsonAction(in.Deterministic)
		j.Deterministic = &det
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads the form MarshalJSON writes. "requested" is required;
// unknown fields are errors; "id" and "channel" (Stream's fields) are
// accepted and ignored.
func (in *Input) UnmarshalJSON(b []byte) error {
	var j inputJSON
	if err := strictUnmarshal(b, &j); err != nil {
		return fmt.Errorf("decode clamp input: %w", err)
	}
	x, err := j.input()
	if err != nil {
		return fmt.Errorf("decode clamp input: %w", err)
	}
	*in = x
	return nil
}

// resultJSON is the JSON form of a Result, plus Stream's "id".
type resultJSON struct {
	ID         string     `json:"id,omitempty"`
	Final      jsonAction `json:"final"`
	FinalIndex int        `json:"final_index"`
	Rules      []string   `json:"rules"`
}

func (r Result) json(id string) resultJSON {
	return resultJSON{ID: id, Final: jsonAction(r.Final), FinalIndex: event.ActionIndex(r.Final), Rules: r.Rules.Names(make([]string, 0, numRules))}
}

// MarshalJSON writes {"final":"TIMEOUT_600","final_index":4,"rules":["snap"]}:
// final_index is the index in event.DiscreteActions and rules is never null.
func (r Result) MarshalJSON() ([]byte, error) { return json.Marshal(r.json("")) }

// UnmarshalJSON reads the form MarshalJSON writes (final_index is ignored).
func (r *Result) UnmarshalJSON(b []byte) error {
	var j resultJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("decode clamp result: %w", err)
	}
	rules, err := ParseRules(j.Rules)
	if err != nil {
		return fmt.Errorf("decode clamp result: %w", err)
	}
	*r = Result{Final: event.Action(j.Final), Rules: rules}
	return nil
}

// streamError is the output line for an input line Stream could not decode.
type streamError struct {
	Line  int    `json:"line"`
	Error string `json:"error"`
}

// Stream reads one JSON Input per line from r (Input's JSON form plus
// "channel" and an optional "id"), applies c and writes one JSON Result per
// line to w, in order, echoing "id". Blank lines are skipped without output.
// A line that cannot be decoded yields {"line":N,"error":"..."} in its place
// and processing continues; Stream then returns an error wrapping ErrBadInput
// once the input is exhausted. Output is flushed whenever no more input is
// buffered, so Stream can serve a co-process line by line.
func Stream(c *Clamp, r io.Reader, w io.Writer) error {
	br := bufio.NewReaderSize(r, 64<<10)
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	var lineNo, bad, firstBad int
	var firstErr error
	for {
		line, rerr := br.ReadBytes('\n')
		if len(line) > 0 {
			lineNo++
		}
		if len(bytes.TrimSpace(line)) > 0 {
			var out any
			var j inputJSON
			err := strictUnmarshal(line, &j)
			var in Input
			if err == nil {
				in, err = j.input()
			}
			if err != nil {
				bad++
				if firstErr == nil {
					firstBad, firstErr = lineNo, err
				}
				out = streamError{Line: lineNo, Error: err.Error()}
			} else {
				out = c.Apply([]byte(j.Channel), &in).json(j.ID)
			}
			if err := enc.Encode(out); err != nil {
				return fmt.Errorf("write result for line %d: %w", lineNo, err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("read input line %d: %w", lineNo+1, rerr)
		}
		if br.Buffered() == 0 {
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("flush results: %w", err)
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("flush results: %w", err)
	}
	if bad > 0 {
		return fmt.Errorf("stream clamp inputs: %d of %d lines invalid, first at line %d (%w): %w", bad, lineNo, firstBad, firstErr, ErrBadInput)
	}
	return nil
}
