package sinker

import (
	"fmt"

	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/sink/internal/rows"
)

// Estimated in-memory sizes of a row besides its strings (struct, slice
// headers and backing arrays).
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
	size := decisionFixedBytes + len(id) + len(d.DecisionID) + len(d.SrcID) + len(d.MsgID) + len(d.RoomID) +
		len(d.Channel) + len(d.UserID) + len(d.Login) + len(d.Consumer)
	return rows.FromDecision(id, &d), event.DecisionSchemaVersion, size, nil
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
	size := modFixedBytes + len(id) + len(m.RoomID) + len(m.Channel) + len(m.TargetUserID) + len(m.TargetLogin) +
		len(m.TargetMsgID) + len(m.Text) + len(m.ModeratorLogin) + len(m.RaidFromLogin) + len(m.Settings)
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
	size := executionFixedBytes + len(id) + len(x.DecisionID) + len(x.MsgID) + len(x.RoomID) + len(x.UserID) + len(x.Error)
	return rows.FromExecution(id, &x), event.ExecutionSchemaVersion, size, nil
}
