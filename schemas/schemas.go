package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// BaseURL prefixes every schema's $id: <BaseURL><name>/<version>.json.
const BaseURL = "https://streamsafe-rl.dev/schemas/"

// Names of the schemas (their file names without ".json").
const (
	Chat      = "chat"
	Mod       = "mod"
	LogEvent  = "log_event"
	Execution = "execution"
	State     = "state"
	Action    = "action"
)

// ErrUnknown is returned for a schema or feature set that is not embedded.
var ErrUnknown = errors.New("schemas: unknown schema")

//go:embed *.json features/*.json
var files embed.FS

// FS returns the embedded files: the schemas (<name>.json) and the feature
// set layouts (features/<version>.json).
func FS() fs.FS { return files }

// Names returns the names of the embedded schemas, sorted.
func Names() []string {
	ents, err := fs.ReadDir(files, ".")
	if err != nil {
		panic("BUG: read embedded schemas: " + err.Error())
	}
	var out []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && !e.IsDir() {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// File returns the bytes of schema name.
func File(name string) ([]byte, error) {
	b, err := files.ReadFile(name + ".json")
	if err != nil {
		return nil, fmt.Errorf("read schema %q: %w", name, ErrUnknown)
	}
	return b, nil
}

// ID returns the $id of schema name.
func ID(name string) (string, error) {
	b, err := File(name)
	if err != nil {
		return "", err
	}
	var doc struct {
		ID string `json:"$id"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return "", fmt.Errorf("parse schema %q: %w", name, err)
	}
	rest, ok := strings.CutPrefix(doc.ID, BaseURL+name+"/")
	if !ok || !strings.HasSuffix(rest, ".json") || strings.Contains(rest, "/") {
		return "", fmt.Errorf("parse schema %q: $id %q is not %s%s/<version>.json", name, doc.ID, BaseURL, name)
	}
	return doc.ID, nil
}

// Version returns the version of schema name: the last element of its $id
// without ".json" ("1" for the events, "fs-1" for state, "as-1" for action).
func Version(name string) (string, error) {
	id, err := ID(name)
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(path.Base(id), ".json"), nil
}

// Compile compiles schema name. Every $ref resolves to an embedded schema:
// a reference to anything else is an error, never a network fetch.
func Compile(name string) (*jsonschema.Schema, error) {
	id, err := ID(name)
	if err != nil {
		return nil, err
	}
	c, err := compiler()
	if err != nil {
		return nil, err
	}
	s, err := c.Compile(id)
	if err != nil {
		return nil, fmt.Errorf("compile schema %q: %w", name, err)
	}
	return s, nil
}

// compiler returns a draft 2020-12 compiler that knows every embedded
// schema under its $id and loads nothing else.
func compiler() (*jsonschema.Compiler, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(embeddedOnly{})
	for _, n := range Names() {
		id, err := ID(n)
		if err != nil {
			return nil, err
		}
		b, _ := File(n) // ID read it
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("parse schema %q: %w", n, err)
		}
		if err := c.AddResource(id, doc); err != nil {
			return nil, fmt.Errorf("add schema %q: %w", n, err)
		}
	}
	return c, nil
}

// embeddedOnly refuses every URL: all schemas are added as resources, so a
// load means a $ref to something that is not embedded.
type embeddedOnly struct{}

func (embeddedOnly) Load(url string) (any, error) {
	return nil, fmt.Errorf("load %s: not an embedded schema (no network fetches): %w", url, ErrUnknown)
}

// FeatureSet returns the value names of feature set version (e.g. "fs-1"),
// in state-vector order, from features/<version>.json.
func FeatureSet(version string) ([]string, error) {
	b, err := files.ReadFile("features/" + version + ".json")
	if err != nil {
		return nil, fmt.Errorf("read feature set %q: %w", version, ErrUnknown)
	}
	var doc struct {
		Version string   `json:"version"`
		Length  int      `json:"length"`
		Names   []string `json:"names"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse feature set %q: %w", version, err)
	}
	if doc.Version != version || doc.Length != len(doc.Names) {
		return nil, fmt.Errorf("parse feature set %q: version %q, length %d, %d names", version, doc.Version, doc.Length, len(doc.Names))
	}
	return doc.Names, nil
}
