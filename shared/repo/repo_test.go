package repo

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// moduleRoot walks up from the test's directory to the folder with go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// TestPackageDocs fails for any package (outside testdata, node_modules and
// hidden folders) whose non-test files carry no package doc comment.
func TestPackageDocs(t *testing.T) {
	root := moduleRoot(t)
	pkgs := map[string]bool{} // dir -> has doc
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		pkgs[dir] = pkgs[dir] || (f.Doc != nil && strings.TrimSpace(f.Doc.Text()) != "")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 5 {
		t.Fatalf("found only %d packages under %s; the walk is broken", len(pkgs), root)
	}
	for dir, ok := range pkgs {
		if !ok {
			rel, _ := filepath.Rel(root, dir)
			t.Errorf("package %s has no package doc comment (add a doc.go: \"Package x ...\" or \"Command x ...\")", rel)
		}
	}
}

// TestReadmeConfig fails when a row of a service's generated CONFIG.md table
// is missing from README.md, so the README's configuration reference cannot
// drift from the code.
func TestReadmeConfig(t *testing.T) {
	root := moduleRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ingest/CONFIG.md", "decide/CONFIG.md", "sink/CONFIG.md"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		rows := 0
		for _, line := range strings.Split(string(b), "\n") {
			if !strings.HasPrefix(line, "| `") {
				continue
			}
			rows++
			if !strings.Contains(string(readme), line) {
				t.Errorf("README.md lacks this row of %s (copy the table again):\n%s", f, line)
			}
		}
		if rows < 10 {
			t.Errorf("%s has only %d variable rows; the table format changed?", f, rows)
		}
	}
}
