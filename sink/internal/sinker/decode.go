package sinker

import (
	"fmt"

	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/sink/internal/rows"
)

// Estimated in-memory sizes of a row besides the bytes of its entry
// (struct, slice headers and backing arrays). The row's strings are
// substrings of the reply the entry came in, which they keep alive: a row
// is charged every byte of its entry's fields.
const (
	decisionFixedBytes  = 1100
	modFixedBytes       = 260
	executionFixedBytes = 220
)

// DecodeDecision decodes and validates a decisions entry.
func DecodeDecision(id string, f []string) (rows.Decision, string, int, error) {
	d, err := event.DecodeDecisionFields(f)
	if err != nil {
		return rows.Decision{}, "", 0, fmt.Errorf("decode decision: %w", err)
	}
	if err := d.Validate(); err != nil {
		return rows.Decision{}, "", 0, fmt.Errorf("validate decision: %w", err)
	}
	size := decisionFixedBytes + entryBytes(id, f)
	return rows.FromDecision(id, &d), rows.DecisionVersion, size, nil
}

// DecodeMod decodes and validates a mod entry.
func DecodeMod(id string, f []string) (rows.Mod, string, int, error) {
	m, err := event.DecodeModFields(f)
	if err != nil {
		return rows.Mod{}, "", 0, fmt.Errorf("decode mod event: %w", err)
	}
	if err := m.Validate(); err != nil {
		return rows.Mod{}, "", 0, fmt.Errorf("validate mod event: %w", err)
	}
	size := modFixedBytes + entryBytes(id, f)
	return rows.FromMod(id, &m), event.ModSchemaVersion, size, nil
}

// DecodeExecution decodes and validates an executions entry.
func DecodeExecution(id string, f []string) (rows.Execution, string, int, error) {
	x, err := event.DecodeExecutionFields(f)
	if err != nil {
		return rows.Execution{}, "", 0, fmt.Errorf("decode execution: %w", err)
	}
	if err := x.Validate(); err != nil {
		return rows.Execution{}, "", 0, fmt.Errorf("validate execution: %w", err)
	}
	size := executionFixedBytes + entryBytes(id, f)
	return rows.FromExecution(id, &x), event.ExecutionSchemaVersion, size, nil
}

// entryBytes is the size of an entry's ID, field names and values.
func entryBytes(id string, f []string) int {
	n := len(id)
	for _, s := range f {
		n += len(s)
	}
	return n
}
