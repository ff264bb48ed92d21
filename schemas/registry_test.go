package schemas

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var register = flag.Bool("register", false, "append the missing (file, version, sha256) lines to REGISTRY.txt (never rewrites a line)")

const registryFile = "REGISTRY.txt"

// regEntry is one line of REGISTRY.txt: a released file version and the
// SHA-256 of its bytes.
type regEntry struct {
	File, Version, Sum string
}

func (e regEntry) String() string { return e.File + " " + e.Version + " " + e.Sum }

// currentEntries returns an entry for every embedded file: the schemas
// (version from $id) and the feature sets (version from "version").
func currentEntries() ([]regEntry, error) {
	var out []regEntry
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		var v string
		if name, ok := strings.CutSuffix(p, ".json"); ok && !strings.Contains(name, "/") {
			if v, err = Version(name); err != nil {
				return err
			}
		} else {
			var doc struct {
				Version string `json:"version"`
			}
			if err := json.Unmarshal(b, &doc); err != nil || doc.Version == "" {
				return fmt.Errorf("read version of %s: no \"version\" (%v)", p, err)
			}
			v = doc.Version
		}
		sum := sha256.Sum256(b)
		out = append(out, regEntry{File: p, Version: v, Sum: hex.EncodeToString(sum[:])})
		return nil
	})
	return out, err
}

// parseRegistry reads "<file> <version> <sha256>" lines; blank lines and
// lines starting with '#' are comments. A (file, version) may appear once.
func parseRegistry(r io.Reader) ([]regEntry, error) {
	var out []regEntry
	seen := map[[2]string]bool{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 3 || len(f[2]) != 64 {
			return nil, fmt.Errorf("parse registry line %d %q: want <file> <version> <sha256>", n, line)
		}
		k := [2]string{f[0], f[1]}
		if seen[k] {
			return nil, fmt.Errorf("parse registry line %d: %s version %s registered twice", n, f[0], f[1])
		}
		seen[k] = true
		out = append(out, regEntry{File: f[0], Version: f[1], Sum: f[2]})
	}
	return out, sc.Err()
}

// checkRegistry compares the current files with the registry: missing are
// file versions not registered yet; changed are file versions registered
// with another checksum (a released schema edited without a version bump).
func checkRegistry(reg, cur []regEntry) (missing []regEntry, changed []error) {
	sums := map[[2]string]string{}
	for _, e := range reg {
		sums[[2]string{e.File, e.Version}] = e.Sum
	}
	for _, e := range cur {
		sum, ok := sums[[2]string{e.File, e.Version}]
		switch {
		case !ok:
			missing = append(missing, e)
		case sum != e.Sum:
			changed = append(changed, fmt.Errorf("%s changed but its version %q is already released (registered sha256 %s, now %s): "+
				"a released schema is frozen; bump the version in its $id (and its schema_version/feature_set/action_set const), "+
				"or undo the edit", e.File, e.Version, sum, e.Sum))
		}
	}
	return missing, changed
}

// appendRegistry appends entries to the registry file at path without
// touching its existing lines.
func appendRegistry(path string, entries []regEntry) error {
	old, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read registry: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("open registry: %w", err)
	}
	var b bytes.Buffer
	if len(old) > 0 && old[len(old)-1] != '\n' {
		b.WriteByte('\n')
	}
	for _, e := range entries {
		b.WriteString(e.String() + "\n")
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("append to registry: %w", err)
	}
	return f.Close()
}

// TestRegistry fails when an embedded file changed without a version bump,
// or when a file version is not registered (run with -args -register to
// append it).
func TestRegistry(t *testing.T) {
	b, err := os.ReadFile(registryFile)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := parseRegistry(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	cur, err := currentEntries()
	if err != nil {
		t.Fatal(err)
	}
	if len(cur) < 7 {
		t.Fatalf("only %d embedded files: %v", len(cur), cur)
	}
	missing, changed := checkRegistry(reg, cur)
	for _, err := range changed {
		t.Error(err)
	}
	if len(missing) == 0 {
		return
	}
	if *register {
		if err := appendRegistry(registryFile, missing); err != nil {
			t.Fatal(err)
		}
		for _, e := range missing {
			t.Logf("registered %s", e)
		}
		return
	}
	for _, e := range missing {
		t.Errorf("%s version %q (sha256 %s) is not in schemas/%s. If it is a new version, register it with:\n"+
			"\tgo test ./schemas -run TestRegistry -args -register\n"+
			"(which only appends lines); if it is an edit of a released version, bump the version instead.", e.File, e.Version, e.Sum, registryFile)
	}
}

func TestCheckRegistry(t *testing.T) {
	reg := []regEntry{{"a.json", "1", "s1"}, {"a.json", "2", "s2"}, {"b.json", "1", "t1"}}
	tests := []struct {
		name        string
		cur         []regEntry
		wantMissing []regEntry
		wantChanged int
	}{
		{"unchanged", []regEntry{{"a.json", "2", "s2"}, {"b.json", "1", "t1"}}, nil, 0},
		{"edited without bump", []regEntry{{"a.json", "2", "s2x"}, {"b.json", "1", "t1"}}, nil, 1},
		{"bumped", []regEntry{{"a.json", "3", "s3"}, {"b.json", "1", "t1"}}, []regEntry{{"a.json", "3", "s3"}}, 0},
		{"new file", []regEntry{{"a.json", "2", "s2"}, {"c.json", "1", "u1"}}, []regEntry{{"c.json", "1", "u1"}}, 0},
		{"old version back", []regEntry{{"a.json", "1", "s1"}}, nil, 0},
	}
	for _, tt := range tests {
		missing, changed := checkRegistry(reg, tt.cur)
		if !reflect.DeepEqual(missing, tt.wantMissing) || len(changed) != tt.wantChanged {
			t.Errorf("%s: checkRegistry = %v, %v, want %v and %d changed", tt.name, missing, changed, tt.wantMissing, tt.wantChanged)
		}
	}
}

func TestParseRegistry(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	good := "# comment\n\na.json 1 " + sum + "\nfeatures/fs-1.json fs-1 " + sum + "\n"
	got, err := parseRegistry(strings.NewReader(good))
	if want := []regEntry{{"a.json", "1", sum}, {"features/fs-1.json", "fs-1", sum}}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("parseRegistry = %v, %v, want %v", got, err, want)
	}
	for _, bad := range []string{"a.json 1\n", "a.json 1 abc\n", "a.json 1 " + sum + " x\n", "a.json 1 " + sum + "\na.json 1 " + sum + "\n"} {
		if _, err := parseRegistry(strings.NewReader(bad)); err == nil {
			t.Errorf("parseRegistry(%q) = nil error, want error", bad)
		}
	}
}

func TestAppendRegistry(t *testing.T) {
	p := filepath.Join(t.TempDir(), registryFile)
	old := "# header\na.json 1 " + strings.Repeat("0", 64) // no final newline
	if err := os.WriteFile(p, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	add := []regEntry{{"a.json", "2", strings.Repeat("1", 64)}, {"b.json", "1", strings.Repeat("2", 64)}}
	if err := appendRegistry(p, add); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	if !strings.HasPrefix(string(b), old) {
		t.Errorf("appendRegistry rewrote existing lines: %q", b)
	}
	reg, err := parseRegistry(bytes.NewReader(b))
	if err != nil || len(reg) != 3 || reg[1] != add[0] || reg[2] != add[1] {
		t.Errorf("after append: %v, %v", reg, err)
	}
	if err := appendRegistry(filepath.Join(t.TempDir(), "missing.txt"), add); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("appendRegistry(missing file) = %v, want ErrNotExist", err)
	}
}
