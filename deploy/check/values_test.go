package check

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// leaves returns the dotted paths of the values' leaves (a list or an
// empty map counts as a leaf).
func leaves(prefix string, v any, out *[]string) {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		*out = append(*out, prefix)
		return
	}
	for k, sub := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		leaves(p, sub, out)
	}
}

// TestValuesDocumented: the chart's README names every value of
// values.yaml (a value "a.b.c" may be written `a.b.c` or, in a row that
// starts with `a.b.x`, as `.c`).
func TestValuesDocumented(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(src, &values); err != nil {
		t.Fatal(err)
	}
	var all []string
	leaves("", values, &all)
	sort.Strings(all)
	for _, v := range all {
		if documented(string(doc), v) {
			continue
		}
		t.Errorf("deploy/helm/idleprobe/README.md does not document %s", v)
	}
	t.Logf("%d values documented", len(all))
}

func documented(doc, v string) bool {
	for p := v; ; {
		if strings.Contains(doc, "`"+p+"`") {
			return true
		}
		i := strings.LastIndexByte(p, '.')
		if i < 0 {
			break
		}
		p = p[:i]
		if strings.Contains(doc, "`"+p+"`") && p != v {
			// A parent documented as a whole (a map like
			// serve.resources) covers its leaves.
			return true
		}
	}
	// "`serve.persistence.enabled`, `.size`": the row names the leaf after
	// a dot.
	i := strings.LastIndexByte(v, '.')
	return i >= 0 && strings.Contains(doc, "`"+v[i:]+"`")
}
