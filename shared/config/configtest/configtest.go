// Package configtest holds test helpers for services whose configuration is
// read with shared/config: listing its variables and clearing them so the
// developer's environment cannot leak into a test.
package configtest

import (
	"os"
	"testing"

	"github.com/streamsafe-rl/streamsafe/shared/config"
)

// Vars lists the variables spec (a pointer to a config struct) reads under
// prefix, failing the test on error.
func Vars(tb testing.TB, prefix string, spec any) []config.Var {
	tb.Helper()
	vars, err := config.Vars(prefix, spec)
	if err != nil {
		tb.Fatal(err)
	}
	return vars
}

// ClearEnv unsets every variable spec reads under prefix (and their bare
// fallbacks) for the rest of the test.
func ClearEnv(tb testing.TB, prefix string, spec any) {
	tb.Helper()
	for _, in := range Vars(tb, prefix, spec) {
		for _, k := range []string{in.Key, in.Alt} {
			if k != "" {
				tb.Setenv(k, "") // restored after the test
				os.Unsetenv(k)
			}
		}
	}
}
