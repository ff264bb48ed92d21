package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/streamsafe-rl/streamsafe/sink/internal/rows"
	"github.com/streamsafe-rl/streamsafe/sink/internal/verify"
)

// errVerifyFailed makes `sink verify` exit 1 after printing its report.
var errVerifyFailed = errors.New("problems found")

// schemas are the Parquet schemas the sink writes, by schema and stream.
func schemas() verify.Schemas {
	return verify.Schemas{
		Schemas: map[string]*parquet.Schema{
			"decision":  parquet.SchemaOf(rows.Decision{}),
			"mod":       parquet.SchemaOf(rows.Mod{}),
			"execution": parquet.SchemaOf(rows.Execution{}),
		},
		Streams: map[string]string{dsDecisions: "decision", dsMod: "mod", dsExecutions: "execution"},
	}
}

// runVerify implements `sink verify [-json] DIR`.
func runVerify(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("sink verify", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: sink verify [-json] DIR")
	}
	rep, err := verify.Dir(fs.Arg(0), schemas())
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	} else {
		printReport(out, rep)
	}
	if !rep.OK() {
		return fmt.Errorf("%d %w in %s", len(rep.Problems), errVerifyFailed, rep.Dir)
	}
	return nil
}

func printReport(out io.Writer, rep *verify.Report) {
	for _, s := range rep.Streams {
		vs := make([]string, 0, len(s.Versions))
		for _, v := range slices.Sorted(maps.Keys(s.Versions)) {
			vs = append(vs, fmt.Sprintf("v%s:%d", v, s.Versions[v]))
		}
		fmt.Fprintf(out, "%-10s files %d rows %d bytes %d ids %s..%s schema %s partitions %d\n",
			s.Stream, s.Files, s.Rows, s.Bytes, s.FirstID, s.LastID, strings.Join(vs, ","), len(s.Partitions))
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(out, "warning: %s\n", w)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(out, "problem: %s\n", p)
	}
	if rep.OK() {
		fmt.Fprintf(out, "OK: %s\n", rep.Dir)
	} else {
		fmt.Fprintf(out, "FAILED: %d problems in %s\n", len(rep.Problems), rep.Dir)
	}
}
