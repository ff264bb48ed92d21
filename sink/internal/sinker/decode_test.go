package sinker

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/streamsafe-rl/streamsafe/shared/event/eventtest"
	"github.com/streamsafe-rl/streamsafe/sink/internal/rows"
)

func flat(kv []any) []string {
	f := make([]string, len(kv))
	for i, x := range kv {
		f[i] = fmt.Sprint(x)
	}
	return f
}

// TestDecodeDecision_BothStreamVersions: an entry of decision stream schema
// 1 (written before an upgrade) and one of schema 2 become the same row of
// the same dataset version.
func TestDecodeDecision_BothStreamVersions(t *testing.T) {
	for name, d := range eventtest.Decisions() {
		id := entryID(1)
		r2, v2, _, err := DecodeDecision(id, flat(d.Values(nil)))
		if err != nil {
			t.Fatalf("%s: schema 2: %v", name, err)
		}
		r1, v1, _, err := DecodeDecision(id, flat(eventtest.DecisionV1Values(d)))
		if err != nil {
			t.Fatalf("%s: schema 1: %v", name, err)
		}
		if !reflect.DeepEqual(r1, r2) || v1 != rows.DecisionVersion || v2 != rows.DecisionVersion {
			t.Errorf("%s: schema 1 row %+v (version %s), schema 2 row %+v (version %s), want equal rows of version %s",
				name, r1, v1, r2, v2, rows.DecisionVersion)
		}
		if r2.SchemaVersion != rows.DecisionVersion || r2.DecisionID != d.DecisionID || r2.Login != d.Login {
			t.Errorf("%s: row %+v does not carry the decision", name, r2)
		}
	}
}
