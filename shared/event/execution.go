package event

import (
	"fmt"
	"strconv"
)

// ExecutionSchemaVersion is the version of the executions stream layout
// below (schemas/execution.json).
const ExecutionSchemaVersion = "1"

// Execution is the outcome of one moderation action as decide's executor
// writes it to the executions stream: one entry per action it handled
// (executed, dry-run, refused or dropped). Field comments give the stream
// field name, type and unit.
type Execution struct {
	DecisionID   string `json:"decision_id"`    // decision_id: the decision the action executes (UUID v5, see DecisionID)
	MsgID        string `json:"msg_id"`         // msg_id: Twitch message id the action was decided for
	RoomID       string `json:"room_id"`        // room_id: broadcaster (channel) user id
	UserID       string `json:"user_id"`        // user_id: actioned user id
	Action       Action `json:"action"`         // action: Action string, e.g. WARN, DELETE, TIMEOUT_600
	Status       string `json:"status"`         // status: one of ExecutionStatuses
	HTTPStatus   int32  `json:"http_status"`    // http_status: last HTTP status, 0 when none was received
	Attempts     int32  `json:"attempts"`       // attempts: HTTP attempts, 0 when none; > 1 means retried
	LatencyUs    int64  `json:"latency_us"`     // latency_us: µs from submit to result (queue wait, rate-limit waits, retries)
	Error        string `json:"error"`          // error: error text, "" on success
	ExecutedAtUs int64  `json:"executed_at_us"` // executed_at_us: when the result was known, Unix µs
}

// Stream field names of Execution that Chat and Decision do not already
// name (it also uses schema_version, decision_id, msg_id, room_id and
// user_id).
const (
	FieldAction       = "action"
	FieldStatus       = "status"
	FieldHTTPStatus   = "http_status"
	FieldAttempts     = "attempts"
	FieldLatencyUs    = "latency_us"
	FieldError        = "error"
	FieldExecutedAtUs = "executed_at_us"
)

// ExecutionStatuses are the values of Execution.Status, in the order of
// decide's executor.Status constants:
//
//   - success: Twitch accepted the action (2xx); attempts > 1 means it was retried
//   - already: Twitch answered that the wanted state already holds (e.g. already banned)
//   - failed: permanent 4xx, retries exhausted, or deadline passed
//   - duplicate: the idempotency key existed, the action was already executed or tried
//   - dropped: the executor's queue was full
//   - invalid: refused before any call (e.g. DELETE without a message id)
//   - idempotency_unavailable: Redis did not answer the idempotency claim; not acted
//   - canceled: the executor closed before the request ran
//   - dry_run: dry-run backend: recorded, nothing sent
var ExecutionStatuses = [...]string{
	"success", "already", "failed", "duplicate", "dropped", "invalid",
	"idempotency_unavailable", "canceled", "dry_run",
}

// ValidExecutionStatus reports whether s is one of ExecutionStatuses.
func ValidExecutionStatus(s string) bool {
	switch s {
	case "success", "already", "failed", "duplicate", "dropped", "invalid",
		"idempotency_unavailable", "canceled", "dry_run":
		return true
	}
	return false
}

// Values appends the stream entry's field/value pairs for x to dst:
// schema_version, decision_id, msg_id, room_id, user_id, action, status,
// http_status, attempts, latency_us, error, executed_at_us.
func (x *Execution) Values(dst []any) []any {
	return append(dst,
		FieldSchemaVersion, ExecutionSchemaVersion,
		FieldDecisionID, x.DecisionID,
		FieldMsgID, x.MsgID,
		FieldRoomID, x.RoomID,
		FieldUserID, x.UserID,
		FieldAction, x.Action.String(),
		FieldStatus, x.Status,
		FieldHTTPStatus, strconv.FormatInt(int64(x.HTTPStatus), 10),
		FieldAttempts, strconv.FormatInt(int64(x.Attempts), 10),
		FieldLatencyUs, strconv.FormatInt(x.LatencyUs, 10),
		FieldError, x.Error,
		FieldExecutedAtUs, strconv.FormatInt(x.ExecutedAtUs, 10),
	)
}

// DecodeExecution decodes an executions stream entry's values. Unknown
// fields are ignored; a missing required field (schema_version,
// decision_id, action, status), a malformed number or action, another
// schema version or an unknown status is a *DecodeError.
func DecodeExecution(vals map[string]any) (Execution, error) {
	return decodeExecution(decoder{vals: vals})
}

// DecodeExecutionFields is DecodeExecution of flat fields.
func DecodeExecutionFields(f Fields) (Execution, error) { return decodeExecution(decoder{flat: f}) }

func decodeExecution(d decoder) (Execution, error) {
	if _, ok := d.version("execution", ExecutionSchemaVersion); !ok {
		return Execution{}, d.err
	}
	x := Execution{
		DecisionID:   d.str(FieldDecisionID, true),
		MsgID:        d.str(FieldMsgID, false),
		RoomID:       d.str(FieldRoomID, false),
		UserID:       d.str(FieldUserID, false),
		Action:       d.action(FieldAction, true),
		Status:       d.str(FieldStatus, true),
		HTTPStatus:   d.int32(FieldHTTPStatus),
		Attempts:     d.int32(FieldAttempts),
		LatencyUs:    d.int64(FieldLatencyUs, false),
		Error:        d.str(FieldError, false),
		ExecutedAtUs: d.int64(FieldExecutedAtUs, false),
	}
	if d.err != nil {
		return Execution{}, d.err
	}
	if x.DecisionID == "" {
		return Execution{}, &DecodeError{Field: FieldDecisionID, Err: fmt.Errorf("empty")}
	}
	if !ValidExecutionStatus(x.Status) {
		return Execution{}, &DecodeError{Field: FieldStatus, Err: fmt.Errorf("unknown status %q", x.Status)}
	}
	return x, nil
}

// int32 parses an optional int32 field ("" or absent is 0).
func (d *decoder) int32(field string) int32 {
	s := d.str(field, false)
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		d.fail(field, err)
	}
	return int32(n)
}
