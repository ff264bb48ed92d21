package executor

import (
	"reflect"
	"testing"
	"time"

	"github.com/streamsafe-rl/streamsafe/shared/event"
)

// TestResult_Values pins the executions stream wire format: the fields, in
// order, with the values the executor wrote before event.Execution existed.
func TestResult_Values(t *testing.T) {
	r := Result{
		DecisionID: event.DecisionID("1-0", "m"), MsgID: "m", RoomID: "10", UserID: "20",
		Action: event.Action{Kind: event.Timeout, DurationS: 600}, Status: StatusAlready,
		HTTPStatus: 400, Attempts: 3, Latency: 1500*time.Microsecond + 999*time.Nanosecond,
		Err: "user is already banned", ExecutedAt: time.UnixMicro(1700000000000123).Add(456 * time.Nanosecond),
	}
	got := r.Values([]any{"x"})
	want := []any{"x",
		"schema_version", "1", "decision_id", r.DecisionID, "msg_id", "m", "room_id", "10", "user_id", "20",
		"action", "TIMEOUT_600", "status", "already", "http_status", "400", "attempts", "3",
		"latency_us", "1500", "error", "user is already banned", "executed_at_us", "1700000000000123",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Values = %q, want %q", got, want)
	}
}

// TestStatus_MatchesEvent: the status strings are event.ExecutionStatuses,
// in order, and every Result decodes back through event.DecodeExecution.
func TestStatus_MatchesEvent(t *testing.T) {
	if int(numStatuses) != len(event.ExecutionStatuses) {
		t.Fatalf("%d statuses, event.ExecutionStatuses has %d", numStatuses, len(event.ExecutionStatuses))
	}
	for s := range numStatuses {
		if got, want := s.String(), event.ExecutionStatuses[s]; got != want {
			t.Errorf("Status(%d).String() = %q, want %q", s, got, want)
		}
		r := Result{
			DecisionID: event.DecisionID("1-0", "m"), MsgID: "m", RoomID: "10", UserID: "20",
			Action: event.Action{Kind: event.Delete}, Status: s, Latency: time.Millisecond, ExecutedAt: time.UnixMicro(5),
		}
		m := map[string]any{}
		kv := r.Values(nil)
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		x, err := event.DecodeExecution(m)
		if err != nil {
			t.Fatalf("DecodeExecution(%s) = %v", s, err)
		}
		if err := x.Validate(); err != nil {
			t.Errorf("Validate(%s) = %v", s, err)
		}
		if x.Status != s.String() || x.LatencyUs != 1000 || x.ExecutedAtUs != 5 || x.Action != r.Action {
			t.Errorf("DecodeExecution(%s) = %+v", s, x)
		}
	}
}
