package event

import (
	"errors"
	"reflect"
	"testing"
)

func sampleExecution() Execution {
	return Execution{
		DecisionID: DecisionID("1700000000000-0", "m"), MsgID: "m", RoomID: "1", UserID: "2",
		Action: Action{Kind: Timeout, DurationS: 600}, Status: "success", HTTPStatus: 200, Attempts: 2,
		LatencyUs: 1234, Error: "", ExecutedAtUs: 1700000000000123,
	}
}

func TestExecution_Values(t *testing.T) {
	x := sampleExecution()
	x.Error = "boom"
	got := x.Values(nil)
	want := []any{
		"schema_version", "1", "decision_id", x.DecisionID, "msg_id", "m", "room_id", "1", "user_id", "2",
		"action", "TIMEOUT_600", "status", "success", "http_status", "200", "attempts", "2",
		"latency_us", "1234", "error", "boom", "executed_at_us", "1700000000000123",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Values = %q, want %q", got, want)
	}
}

func TestExecution_RoundTrip(t *testing.T) {
	for _, s := range ExecutionStatuses {
		in := sampleExecution()
		in.Status = s
		got, err := DecodeExecution(toMap(t, in.Values(nil)))
		if err != nil || got != in {
			t.Errorf("DecodeExecution(Values(%+v)) = %+v, %v", in, got, err)
		}
	}
}

func TestDecodeExecution_Bad(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(map[string]any)
		field string
	}{
		{"missing decision_id", func(m map[string]any) { delete(m, FieldDecisionID) }, FieldDecisionID},
		{"empty decision_id", func(m map[string]any) { m[FieldDecisionID] = "" }, FieldDecisionID},
		{"missing action", func(m map[string]any) { delete(m, FieldAction) }, FieldAction},
		{"bad action", func(m map[string]any) { m[FieldAction] = "TIMEOUT_0" }, FieldAction},
		{"missing status", func(m map[string]any) { delete(m, FieldStatus) }, FieldStatus},
		{"unknown status", func(m map[string]any) { m[FieldStatus] = "maybe" }, FieldStatus},
		{"bad http_status", func(m map[string]any) { m[FieldHTTPStatus] = "2x" }, FieldHTTPStatus},
		{"attempts over int32", func(m map[string]any) { m[FieldAttempts] = "2147483648" }, FieldAttempts},
		{"bad latency", func(m map[string]any) { m[FieldLatencyUs] = "1.5" }, FieldLatencyUs},
		{"bad executed_at_us", func(m map[string]any) { m[FieldExecutedAtUs] = "x" }, FieldExecutedAtUs},
		{"other version", func(m map[string]any) { m[FieldSchemaVersion] = "2" }, FieldSchemaVersion},
		{"no version", func(m map[string]any) { delete(m, FieldSchemaVersion) }, FieldSchemaVersion},
		{"wrong type", func(m map[string]any) { m[FieldStatus] = 7 }, FieldStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := sampleExecution()
			m := toMap(t, x.Values(nil))
			tt.edit(m)
			_, err := DecodeExecution(m)
			var de *DecodeError
			if !errors.As(err, &de) || de.Field != tt.field {
				t.Errorf("DecodeExecution = %v, want DecodeError on %q", err, tt.field)
			}
		})
	}
	x := sampleExecution()
	m := toMap(t, x.Values(nil))
	delete(m, FieldError)
	delete(m, FieldHTTPStatus)
	m["some_future_field"] = "x"
	got, err := DecodeExecution(m)
	if err != nil || got.Error != "" || got.HTTPStatus != 0 {
		t.Errorf("optional fields absent: DecodeExecution = %+v, %v, want no error and zero values", got, err)
	}
}

func TestValidExecutionStatus(t *testing.T) {
	for _, s := range ExecutionStatuses {
		if !ValidExecutionStatus(s) {
			t.Errorf("ValidExecutionStatus(%q) = false", s)
		}
	}
	for _, s := range []string{"", "Success", "ok", "dry-run"} {
		if ValidExecutionStatus(s) {
			t.Errorf("ValidExecutionStatus(%q) = true", s)
		}
	}
}
