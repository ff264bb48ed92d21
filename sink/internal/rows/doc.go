// Package rows defines the Parquet row types the sink writes, one per
// stream (decisions, mod, executions), and their conversion from decoded
// stream events. docs/parquet.md documents every column; the struct tags
// here are that document in code (a test checks that the two agree).
package rows
