package configs

import (
	"reflect"
	"strings"
	"testing"
)

// TestEveryKeyIsApplied: each setting of the schema, written alone, changes
// the resolved path (pathDoc.applyTo has a line for it).
func TestEveryKeyIsApplied(t *testing.T) {
	samples := map[reflect.Type]string{
		reflect.TypeFor[text]():      "sample",
		reflect.TypeFor[payload]():   "sample",
		reflect.TypeFor[duration]():  "7s",
		reflect.TypeFor[integer]():   "7",
		reflect.TypeFor[boolean]():   "true",
		reflect.TypeFor[fraction]():  "0.07",
		reflect.TypeFor[stringMap](): "{k: v}",
		reflect.TypeFor[headerMap](): "{X-K: v}",
	}
	const base = "paths:\n  - name: a\n    target: tcp://192.0.2.1:1\n"
	resolved := func(t *testing.T, src string) Path {
		t.Helper()
		c, probs := decode([]byte(src), "k.yml")
		if _, err := probs.result(); err != nil || c == nil || len(c.Paths) != 1 {
			t.Fatalf("decode: %v", err)
		}
		return c.Paths[0]
	}
	want := resolved(t, base).Hash()
	n := 0
	var walk func(prefix, indent string, typ reflect.Type)
	walk = func(prefix, indent string, typ reflect.Type) {
		for _, key := range keysOf(typ) {
			ft := fieldType(typ, key)
			sample, isSetting := samples[ft]
			if !isSetting {
				walk(prefix+key+":\n", indent+"  ", ft)
				continue
			}
			if key == "name" || key == "target" {
				continue // set in base
			}
			n++
			src := base + "    " + strings.ReplaceAll(prefix, "\n", "\n    ") + indent + key + ": " + sample + "\n"
			t.Run(strings.TrimSpace(strings.ReplaceAll(prefix, ":\n", ".")+key), func(t *testing.T) {
				if got := resolved(t, src).Hash(); got == want {
					t.Errorf("setting %q changed nothing:\n%s", key, src)
				}
			})
		}
	}
	walk("", "", reflect.TypeFor[pathDoc]())
	if n < 25 {
		t.Errorf("tried %d settings, want every one of the schema", n)
	}
}

// TestDecodeKeepsPlaces: errors name the file's own indexes and lines,
// also after entries that yaml could not decode, and a key written
// without a value gets its type's message.
func TestDecodeKeepsPlaces(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"index after a dropped entry",
			"paths:\n  - foo\n  -\n  - name: a\n    target: tcp://192.0.2.1:1\n    budget: 1\n",
			[]string{
				"x.yml:2: paths[0]: must be a mapping with at least name and target, not a single value",
				"x.yml:3: paths[1]: must be a mapping with at least name and target, not an empty value",
				"x.yml:6: paths[2].budget: 1 is too few",
			}},
		{"empty values",
			"max_connections:\npaths:\n  - name: a\n    target: tcp://192.0.2.1:1\n    max_idle:\n    budget:\n    precision:\n    labels:\n    tls:\n      insecure_skip_verify:\n",
			[]string{
				"x.yml:1: max_connections: must be a whole number (example: 64), not an empty value",
				"x.yml:5: paths[0].max_idle: must be a duration (examples: 90s, 15m, 1h30m), not an empty value",
				"x.yml:6: paths[0].budget: must be a whole number (example: 64), not an empty value",
				"x.yml:7: paths[0].precision: must be a fraction or a percentage (examples: 0.02, 2%), not an empty value",
				"x.yml:8: paths[0].labels: must be a mapping of names to values, not an empty value",
				"x.yml:10: paths[0].tls.insecure_skip_verify: must be true or false, not an empty value",
			}},
		{"duplicate key in defaults hides nothing else and adds nothing",
			"defaults:\n  max_idle: 10m\n  max_idle: 20m\n  min_idle: 5m\npaths:\n  - name: a\n    target: tcp://192.0.2.1:1\n    min_idle: 15m\n    budget: 1\n",
			[]string{
				"x.yml:3: defaults.max_idle: duplicate key (first set on line 2)",
				"x.yml:9: paths[0].budget: 1 is too few",
			}},
		{"a block of the wrong kind",
			"paths:\n  - name: a\n    target: tcp://192.0.2.1:1\n    tls: [x]\n    request: 3\n",
			[]string{
				"x.yml:4: paths[0].tls: must be a mapping of settings, not a list",
				"x.yml:5: paths[0].request: must be a mapping of settings, not a single value",
			}},
		{"an alias of the wrong kind names where it is used",
			"x: &l [1]\npaths:\n  - name: a\n    target: tcp://192.0.2.1:1\n    tcp_keepalive: *l\n",
			[]string{
				"x.yml:1: x: unknown field (valid: defaults, max_connections, paths)",
				"x.yml:1: paths[0].tcp_keepalive: must be a mapping of settings, not a list",
			}},
		{"flow style",
			"paths: [{name: a, target: 'tcp://192.0.2.1:1', bogus: 1, max_idle: 2x}]\n",
			[]string{
				"x.yml:1: paths[0].bogus: unknown field (valid: auth, budget,",
				`x.yml:1: paths[0].max_idle: "2x" is not a duration`,
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse([]byte(tc.src), "x.yml")
			errs := unwrapAll(t, err)
			if len(errs) != len(tc.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(errs[i].Error(), w) {
					t.Errorf("error %d = %q, want it to start with %q", i, errs[i], w)
				}
			}
		})
	}
}
