package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/stream"
	"github.com/streamsafe-rl/streamsafe/sink/internal/filewriter"
	"github.com/streamsafe-rl/streamsafe/sink/internal/rows"
	"github.com/streamsafe-rl/streamsafe/sink/internal/verify"
)

// hourMS is 2026-11-25T13:00:00Z in Unix ms.
const hourMS = 1795611600000

// writeDataDir writes a valid data directory with the sink's writer: a
// decisions file of 30 rows and a mod file of 3 rows, and returns it with
// the decisions file's path.
func writeDataDir(t *testing.T) (dir, decisionsFile string) {
	t.Helper()
	dir = t.TempDir()
	lim := filewriter.Limits{RowGroupRows: 10, FileRows: 1000, FileBytes: 1 << 30, FileAge: time.Hour}
	dw, err := filewriter.New[rows.Decision](filewriter.Dataset{Dir: filepath.Join(dir, dsDecisions), Stream: dsDecisions, Schema: "decision", Writer: writerName}, lim)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		id := stream.ID{MS: hourMS + uint64(i)}
		d := testDecision(i)
		dw.Append(id, id.String(), rows.FromDecision(id.String(), &d), rows.DecisionVersion, 1000)
	}
	c, err := dw.Commit()
	if err != nil {
		t.Fatal(err)
	}
	mw, err := filewriter.New[rows.Mod](filewriter.Dataset{Dir: filepath.Join(dir, dsMod), Stream: dsMod, Schema: "mod", Writer: writerName}, lim)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		id := stream.ID{MS: hourMS + 3600_000 + uint64(i)}
		m := testMod(i)
		mw.Append(id, id.String(), rows.FromMod(id.String(), &m), event.ModSchemaVersion, 100)
	}
	if _, err := mw.Commit(); err != nil {
		t.Fatal(err)
	}
	return dir, c.Path
}

func TestRunVerify(t *testing.T) {
	good, _ := writeDataDir(t)
	bad, badFile := writeDataDir(t)
	if err := os.Truncate(badFile, 100); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(badFile), ".part-1-0.parquet.tmp")
	if err := os.WriteFile(tmp, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantErr  error // errors.Is; nil: no error
		anyErr   bool  // some other error (usage)
		wantOut  []string
		wantJSON bool
	}{
		{"good", []string{good}, nil, false, []string{
			"decisions  files 1 rows 30 bytes ", "ids 1795611600000-0..1795611600029-0 schema v1:1 partitions 1",
			"mod        files 1 rows 3 ", "OK: " + good}, false},
		{"bad", []string{bad}, errVerifyFailed, false, []string{
			"problem: " + badFile + ": unreadable footer", "warning: " + tmp + ": temporary file",
			"FAILED: 1 problems in " + bad}, false},
		{"good json", []string{"-json", good}, nil, false, nil, true},
		{"bad json", []string{"-json", bad}, errVerifyFailed, false, nil, true},
		{"no directory", nil, nil, true, nil, false},
		{"two directories", []string{good, bad}, nil, true, nil, false},
		{"unknown flag", []string{"-yaml", good}, nil, true, nil, false},
		{"missing directory", []string{filepath.Join(good, "nope")}, nil, true, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := runVerify(tt.args, &out)
			switch {
			case tt.anyErr:
				if err == nil || errors.Is(err, errVerifyFailed) {
					t.Errorf("runVerify(%q) = %v, want a usage or I/O error", tt.args, err)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("runVerify(%q) = %v, want %v", tt.args, err, tt.wantErr)
				}
			case err != nil:
				t.Errorf("runVerify(%q) = %v, want nil", tt.args, err)
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if !tt.wantJSON {
				return
			}
			var rep verify.Report
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatalf("-json output is not a report: %v\n%s", err, out.String())
			}
			if len(rep.Streams) != 2 || rep.Streams[0].Stream != dsDecisions || rep.Streams[1].Stream != dsMod || rep.Streams[1].Rows != 3 {
				t.Fatalf("-json streams = %+v, want decisions and mod (3 rows)", rep.Streams)
			}
			if tt.wantErr == nil && (!rep.OK() || rep.Streams[0].Rows != 30 || rep.Streams[0].Versions["1"] != 1) {
				t.Errorf("-json report of the good directory = %+v, want OK with 30 decision rows of version 1", rep)
			}
			if tt.wantErr != nil && (len(rep.Problems) != 1 || !strings.HasPrefix(rep.Problems[0], badFile) || len(rep.Warnings) != 1) {
				t.Errorf("-json problems %q warnings %q, want the truncated file and the temporary one", rep.Problems, rep.Warnings)
			}
		})
	}
}

// TestMain_VerifyExitStatus runs `sink verify` as a process (this test
// binary, calling main) and checks its exit status and stderr.
func TestMain_VerifyExitStatus(t *testing.T) {
	if args := os.Getenv("SINK_TEST_MAIN_ARGS"); args != "" {
		os.Args = append([]string{"sink"}, strings.Split(args, "\x1f")...)
		main()
		os.Exit(0)
	}
	good, _ := writeDataDir(t)
	bad, badFile := writeDataDir(t)
	if err := os.WriteFile(badFile, []byte("not parquet"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args       []string
		wantStatus int
		wantStdout string
		wantStderr string
	}{
		{[]string{"verify", good}, 0, "OK: " + good, ""},
		{[]string{"verify", bad}, 1, "FAILED", "sink verify: 1 problems found in " + bad},
		{[]string{"verify"}, 1, "", "sink verify: usage: sink verify [-json] DIR"},
		{[]string{"frobnicate"}, 1, "", `sink: unknown command "frobnicate"`},
	}
	for _, tt := range tests {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMain_VerifyExitStatus$")
		cmd.Env = append(os.Environ(), "SINK_TEST_MAIN_ARGS="+strings.Join(tt.args, "\x1f"))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		status := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			status = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if status != tt.wantStatus || !strings.Contains(stdout.String(), tt.wantStdout) || !strings.Contains(stderr.String(), tt.wantStderr) {
			t.Errorf("sink %q: status %d, stdout %q, stderr %q; want %d, %q, %q",
				tt.args, status, stdout.String(), stderr.String(), tt.wantStatus, tt.wantStdout, tt.wantStderr)
		}
	}
}
