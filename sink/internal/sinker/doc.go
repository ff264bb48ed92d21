// Package sinker turns a stream consumer's batches into committed Parquet
// files: it decodes and validates each entry (dead-lettering those that do
// not), skips entries that an earlier run already committed, buffers the
// rest in a filewriter.Writer, commits files when they are full, old or
// change partition or schema version, and acknowledges entries only after
// their file is durable. One Stream per stream key; each is driven by one
// consumer worker (the sink is the single writer of its files).
package sinker
