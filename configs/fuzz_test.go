package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idleprobe/idleprobe/schedule"
)

// FuzzParse: Parse never panics, never returns both a config and an error,
// and what it accepts is measurable and hashes stably. The seed corpus is in
// testdata/fuzz/FuzzParse; the example configs are added as seeds too.
// Run longer with: go test ./configs -run '^$' -fuzz FuzzParse -fuzztime 60s
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("examples", "*.yml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	// Relative ca_file names resolve in an empty directory, so fuzzed names
	// cannot reach real files by accident.
	name := filepath.Join(f.TempDir(), "fuzz.yml")
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, warns, err := Parse(data, name)
		if err != nil {
			if cfg != nil {
				t.Fatal("Parse returned a config along with an error")
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			for _, e := range unwrapAll(t, err) {
				// One line naming the file, in the config's words (no Go
				// type from the decoder's schema).
				if e.File != name || e.Message == "" || strings.Contains(e.Message, "\n") || strings.Contains(e.Error(), "configs.") {
					t.Fatalf("bad error %q", e)
				}
			}
			return
		}
		if len(cfg.Paths) == 0 {
			t.Fatal("a valid config without paths")
		}
		for _, w := range warns {
			if strings.Contains(w.Message, "\n") {
				t.Errorf("multi-line warning %q", w)
			}
		}
		for _, p := range cfg.Paths {
			target, opts := p.Measurement()
			if target.URL == nil {
				t.Fatalf("path %q: accepted target %q does not parse", p.Name, p.Target)
			}
			if err := opts.Plan.Validate(); err != nil {
				t.Fatalf("path %q: accepted settings rejected by plan.Validate: %v", p.Name, err)
			}
			if q := p; q.Hash() != p.Hash() || !q.Equal(p) {
				t.Fatalf("path %q: Hash is not stable", p.Name)
			}
			if _, err := schedule.Parse(p.Schedule); err != nil {
				t.Fatalf("path %q: accepted schedule %q does not parse: %v", p.Name, p.Schedule, err)
			}
		}
	})
}
