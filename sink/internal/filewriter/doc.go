// Package filewriter writes one stream's rows to Parquet files with the
// sink's commit protocol: rows are buffered in memory (bounded by the file
// limits), then written to a temporary file, closed (footer), fsynced,
// renamed to part-<first id>-<last id>.parquet and the directory fsynced.
// Only then does Commit return the entry IDs the caller may acknowledge. A
// failed commit leaves no file under a final name and keeps the rows
// buffered so the caller can retry. Recover removes the temporary files of a
// crashed writer and lists the ID ranges already committed.
package filewriter
