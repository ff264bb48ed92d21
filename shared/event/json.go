package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// MarshalJSON writes a as its String form, e.g. "TIMEOUT_600". An action
// without a wire form (an unknown kind, a timeout without a positive
// length, a length on another kind) is an error rather than a string that
// does not parse back.
func (a Action) MarshalJSON() ([]byte, error) {
	if !a.wireValid() {
		return nil, fmt.Errorf("marshal action %v: %w", a, ErrUnknownAction)
	}
	b := make([]byte, 0, 16)
	b = append(b, '"')
	b = appendAction(b, a)
	return append(b, '"'), nil
}

// UnmarshalJSON reads the form MarshalJSON writes (ParseAction).
func (a *Action) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("decode action: %w", err)
	}
	x, err := ParseAction(s)
	if err != nil {
		return err
	}
	*a = x
	return nil
}

// MarshalJSON writes c's JSON form (schemas/chat.json).
func (c Chat) MarshalJSON() ([]byte, error) {
	type plain Chat // without methods
	return json.Marshal(struct {
		SchemaVersion string `json:"schema_version"`
		plain
	}{ChatSchemaVersion, plain(c)})
}

// UnmarshalJSON reads the form MarshalJSON writes, of schema version 2 or
// 1 (their JSON forms differ only in schema_version).
func (c *Chat) UnmarshalJSON(b []byte) error {
	type plain Chat
	var x Chat
	aux := struct {
		SchemaVersion *string `json:"schema_version"`
		*plain
	}{plain: (*plain)(&x)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return fmt.Errorf("decode chat json: %w", err)
	}
	if err := checkVersion(aux.SchemaVersion, "chat", ChatSchemaVersion, ChatSchemaVersion1); err != nil { // version 1's JSON form is the same
		return err
	}
	*c = x
	return nil
}

// MarshalJSON writes m's JSON form (schemas/mod.json).
func (m Mod) MarshalJSON() ([]byte, error) {
	type plain Mod
	return json.Marshal(struct {
		SchemaVersion string `json:"schema_version"`
		plain
	}{ModSchemaVersion, plain(m)})
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (m *Mod) UnmarshalJSON(b []byte) error {
	type plain Mod
	var x Mod
	aux := struct {
		SchemaVersion *string `json:"schema_version"`
		*plain
	}{plain: (*plain)(&x)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return fmt.Errorf("decode mod json: %w", err)
	}
	if err := checkVersion(aux.SchemaVersion, "mod", ModSchemaVersion); err != nil {
		return err
	}
	*m = x
	return nil
}

// MarshalJSON writes x's JSON form (schemas/execution.json).
func (x Execution) MarshalJSON() ([]byte, error) {
	type plain Execution
	return json.Marshal(struct {
		SchemaVersion string `json:"schema_version"`
		plain
	}{ExecutionSchemaVersion, plain(x)})
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (x *Execution) UnmarshalJSON(b []byte) error {
	type plain Execution
	var v Execution
	aux := struct {
		SchemaVersion *string `json:"schema_version"`
		*plain
	}{plain: (*plain)(&v)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return fmt.Errorf("decode execution json: %w", err)
	}
	if err := checkVersion(aux.SchemaVersion, "execution", ExecutionSchemaVersion); err != nil {
		return err
	}
	*x = v
	return nil
}

// MarshalJSON writes d's JSON form (schemas/log_event.json): text_hash as
// 16 lower-case hex digits, actions as strings, nil lists as [].
func (d Decision) MarshalJSON() ([]byte, error) {
	type plain Decision
	var h [16]byte
	// The outer fields shadow the embedded ones of the same JSON name.
	return json.Marshal(struct {
		SchemaVersion string `json:"schema_version"`
		plain
		TextHash    string    `json:"text_hash"`
		Features    []float32 `json:"features"`
		MsgFeatures []float64 `json:"msg_features"`
		ClampRules  []string  `json:"clamp_rules"`
	}{
		SchemaVersion: DecisionSchemaVersion,
		plain:         plain(d),
		TextHash:      string(appendHash(h[:0], d.TextHash)),
		Features:      orEmpty(d.Features),
		MsgFeatures:   orEmpty(d.MsgFeatures),
		ClampRules:    orEmpty(d.ClampRules),
	})
}

// UnmarshalJSON reads the form MarshalJSON writes.
func (d *Decision) UnmarshalJSON(b []byte) error {
	type plain Decision
	var x Decision
	aux := struct {
		SchemaVersion *string `json:"schema_version"`
		*plain
		TextHash string `json:"text_hash"`
	}{plain: (*plain)(&x)}
	if err := json.Unmarshal(b, &aux); err != nil {
		return fmt.Errorf("decode decision json: %w", err)
	}
	if err := checkVersion(aux.SchemaVersion, "decision", DecisionSchemaVersion, DecisionSchemaVersion1); err != nil { // version 1's JSON form is the same
		return err
	}
	if !isLowerHex(aux.TextHash, 16) {
		return &DecodeError{Field: FieldTextHash, Err: fmt.Errorf("want 16 lower-case hex digits, got %q", aux.TextHash)}
	}
	h, err := strconv.ParseUint(aux.TextHash, 16, 64)
	if err != nil {
		return &DecodeError{Field: FieldTextHash, Err: err}
	}
	x.TextHash = h
	*d = x
	return nil
}

// checkVersion reports a missing schema_version, or one that is none of
// the versions read (want[0] is the one written).
func checkVersion(got *string, schema string, want ...string) error {
	if got == nil {
		return &DecodeError{Field: FieldSchemaVersion, Err: errors.New("missing")}
	}
	if !slices.Contains(want, *got) {
		w := fmt.Sprintf("%q", want[0])
		if len(want) > 1 {
			w = fmt.Sprintf("one of %q", want)
		}
		return &DecodeError{Field: FieldSchemaVersion, Err: fmt.Errorf("unsupported %s schema version %q (want %s)", schema, *got, w)}
	}
	return nil
}

// version reads a stream entry's schema_version and records an error
// (checkVersion's) unless it is one of want; ok is false once d has failed.
func (d *decoder) version(schema string, want ...string) (v string, ok bool) {
	v = d.str(FieldSchemaVersion, true)
	if d.err == nil {
		if err := checkVersion(&v, schema, want...); err != nil {
			d.err = err
		}
	}
	return v, d.err == nil
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
