package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/event/eventtest"
	"github.com/streamsafe-rl/streamsafe/shared/redistest"
)

func TestRun_CountsDuplicatesAndScrapes(t *testing.T) {
	addr := redistest.Start(t)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	for i := range 25 {
		id := fmt.Sprintf("m%d", i%20)                    // 5 duplicates
		vals := []any{"msg_id", id, "tmi_sent_ts", "999"} // chat schema 1
		if i%2 == 1 {
			vals = []any{"msg_id", id, "times", "999,999000"} // chat schema 2
		}
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "c", ID: fmt.Sprintf("%d-0", 1000+i), Values: vals}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	rdb.XAdd(ctx, &redis.XAddArgs{Stream: "c", ID: "2000-0", Values: []any{"junk", "1"}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "# TYPE streamsafe_x_total counter\nstreamsafe_x_total{kind=\"chat\"} 7\nstreamsafe_x_total{kind=\"mod\"} 2\n")
	}))
	defer srv.Close()

	var out bytes.Buffer
	if err := run(ctx, []string{"-redis", addr, "-chat", "c", "-metrics", "ingest=" + srv.URL}, &out); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Chat    StreamStats                   `json:"chat"`
		Metrics map[string]map[string]float64 `json:"metrics"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	want := StreamStats{Entries: 26, UniqueIDs: 20, Duplicates: 5, Malformed: 1, P50Ms: 13, P99Ms: 25, MaxMs: 25, FirstMs: 1000, LastMs: 2000}
	if !reflect.DeepEqual(got.Chat, want) {
		t.Errorf("chat stats = %+v, want %+v", got.Chat, want)
	}
	if m := got.Metrics["ingest"]; m["streamsafe_x_total"] != 9 || m[`streamsafe_x_total{kind="chat"}`] != 7 {
		t.Errorf("metrics = %v, want total 9 and chat 7", m)
	}
}

// TestRun_DecisionsBothSchemas: read-to-written latency and failure
// reasons come out of decision entries of schema 2 (grouped fields) and of
// schema 1 (fields of their own) alike.
func TestRun_DecisionsBothSchemas(t *testing.T) {
	addr := redistest.Start(t)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	for i := range 4 {
		d := eventtest.Decision()
		d.MsgID = fmt.Sprintf("m%d", i)
		d.ReadAtUs = int64(1000+i)*1000 - int64(1000*(i+1)) // i+2 ms from the read to the end of the entry's ms
		if i < 3 {
			d.Path, d.FailureReason = event.PathFailOpen, event.FailureFeatureStoreTimeout
		}
		vals := d.Values(nil)
		if i%2 == 1 {
			vals = eventtest.DecisionV1Values(d)
		}
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "d", ID: fmt.Sprintf("%d-0", 1000+i), Values: vals}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"-redis", addr, "-decisions", "d"}, &out); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Decisions StreamStats `json:"decisions"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	want := StreamStats{Entries: 4, UniqueIDs: 4, P50Ms: 4, P99Ms: 5, MaxMs: 5, FirstMs: 1000, LastMs: 1003,
		Failures: map[string]int64{event.FailureFeatureStoreTimeout: 3}}
	if !reflect.DeepEqual(got.Decisions, want) {
		t.Errorf("decision stats = %+v, want %+v", got.Decisions, want)
	}
}
