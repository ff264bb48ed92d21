// Package verify checks a sink data directory: every committed Parquet file
// has a readable footer, the sink's metadata, the columns of its schema, a
// row count and an entry-ID range that match its name and partition, IDs in
// strictly increasing order, and no two files of a stream overlap. It is
// what a user runs before training (`sink verify DIR`).
package verify
