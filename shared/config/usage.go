package config

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"text/template"

	"github.com/kelseyhightower/envconfig"
)

// Var is one environment variable a configuration struct reads.
type Var struct {
	Key     string // PREFIX_NAME
	Alt     string // the bare fallback NAME, "" when none
	Type    string // Go type of the field
	Default string // default tag
	Desc    string // desc tag
}

// Vars lists the variables spec (a pointer to a struct) reads under prefix,
// in field order.
func Vars(prefix string, spec any) ([]Var, error) {
	const us, rs = "\x1f", "\x1e"
	tmpl := template.Must(template.New("v").Parse(`{{range .}}{{.Key}}` + us + `{{.Alt}}` + us + `{{.Field.Type}}` + us +
		`{{.Tags.Get "default"}}` + us + `{{.Tags.Get "desc"}}` + rs + `{{end}}`))
	var b bytes.Buffer
	if err := envconfig.Usaget(prefix, spec, &b, tmpl); err != nil {
		return nil, fmt.Errorf("list %s variables: %w", prefix, err)
	}
	var out []Var
	for _, rec := range strings.Split(strings.TrimSuffix(b.String(), rs), rs) {
		f := strings.Split(rec, us)
		if len(f) != 5 {
			return nil, fmt.Errorf("list %s variables: bad usage record %q", prefix, rec)
		}
		out = append(out, Var{Key: f[0], Alt: f[1], Type: f[2], Default: f[3], Desc: f[4]})
	}
	return out, nil
}

// MarkdownTable renders vars as the Markdown table of a CONFIG.md.
// typeNames maps Go type names to the names shown (durations, secrets and
// the string types of a service's own packages).
func MarkdownTable(vars []Var, typeNames map[string]string) string {
	var b strings.Builder
	b.WriteString("| Variable | Type | Default | Description |\n|---|---|---|---|\n")
	for _, in := range vars {
		name := "`" + in.Key + "`"
		if in.Alt != "" {
			name += " (or `" + in.Alt + "`)"
		}
		typ := in.Type
		switch typ {
		case "time.Duration":
			typ = "duration"
		case "config.Secret":
			typ = "secret"
		}
		if n, ok := typeNames[typ]; ok {
			typ = n
		}
		def := in.Default
		if def != "" {
			def = "`" + def + "`"
		}
		desc := strings.ReplaceAll(in.Desc, "|", "\\|")
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", name, typ, def, desc)
	}
	return b.String()
}

// Markers around the generated table in a CONFIG.md.
const (
	TableStart = "<!-- BEGIN GENERATED TABLE"
	TableEnd   = "<!-- END GENERATED TABLE -->\n"
)

// SyncDoc compares the generated table between the markers of the Markdown
// file at path with table. When they differ it rewrites the file if update
// is set, and otherwise returns an error saying how to regenerate it.
func SyncDoc(path, table string, update bool, regen string) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config doc: %w", err)
	}
	s := string(doc)
	i := strings.Index(s, TableStart)
	if i < 0 {
		return fmt.Errorf("%s lacks the generated-table markers", path)
	}
	i += strings.IndexByte(s[i:], '\n') + 1
	j := strings.Index(s, TableEnd)
	if j < i {
		return fmt.Errorf("%s lacks the generated-table end marker", path)
	}
	if s[i:j] == table {
		return nil
	}
	if !update {
		return fmt.Errorf("%s table is stale; run %s", path, regen)
	}
	if err := os.WriteFile(path, []byte(s[:i]+table+s[j:]), 0o644); err != nil {
		return fmt.Errorf("write config doc: %w", err)
	}
	return nil
}
