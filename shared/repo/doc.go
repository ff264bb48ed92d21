// Package repo holds repository-wide checks that run with `go test ./...`:
// every Go package in the module must carry a package doc comment.
package repo
