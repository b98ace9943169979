package configs

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// site is one node of the YAML tree with its field path and the Go type
// of doc.go it decodes into.
type site struct {
	node *yaml.Node
	// key is set for a mapping key, whose field is the field it names.
	key bool
	// field is the field path ("paths[2].tls.ca_file"); parent that of the
	// enclosing mapping or list ("" at the top level).
	field, parent string
	// typ is the type the value decodes into, parentType that of the
	// enclosing mapping or list; nil under a key the schema does not have,
	// and below a setting (whose type reads its value itself).
	typ, parentType reflect.Type
}

var (
	fileDocType = reflect.TypeFor[fileDoc]()
	settingType = reflect.TypeFor[setting]()
)

// sites lists the nodes of the tree under root, a mapping decoded into a
// fileDoc, in document order. Aliases are not followed, so every node is
// listed once, where it is written.
func sites(root *yaml.Node) []site {
	var out []site
	var walk func(n *yaml.Node, field string, t reflect.Type)
	walk = func(n *yaml.Node, field string, t reflect.Type) {
		if t != nil && reflect.PointerTo(t).Implements(settingType) {
			t = nil // a setting reads its own value
		}
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				key, val := n.Content[i], n.Content[i+1]
				f := join(field, key.Value)
				var ft reflect.Type
				if t != nil && t.Kind() == reflect.Struct {
					ft = fieldType(t, key.Value)
				}
				out = append(out, site{node: key, key: true, field: f, parent: field, parentType: t},
					site{node: val, field: f, parent: field, typ: ft, parentType: t})
				walk(val, f, ft)
			}
		case yaml.SequenceNode:
			var et reflect.Type
			if t != nil && t.Kind() == reflect.Slice {
				et = t.Elem()
			}
			for i, item := range n.Content {
				f := fmt.Sprintf("%s[%d]", field, i)
				out = append(out, site{node: item, field: f, parent: field, typ: et, parentType: t})
				walk(item, f, et)
			}
		}
	}
	walk(root, "", fileDocType)
	return out
}

// docType returns the struct type of doc.go with the given name
// ("configs.tlsDoc"), or nil.
func docType(name string) reflect.Type {
	var found reflect.Type
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		if t.Kind() == reflect.Slice {
			t = t.Elem()
		}
		if found != nil || t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(settingType) {
			return
		}
		if t.String() == name {
			found = t
			return
		}
		for i := range t.NumField() {
			walk(t.Field(i).Type)
		}
	}
	walk(fileDocType)
	return found
}

// yamlKey is the key of a struct field, "" for the inline block node.
func yamlKey(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

// fieldType is the type of t's field with the given key, or nil.
func fieldType(t reflect.Type, key string) reflect.Type {
	for i := range t.NumField() {
		if f := t.Field(i); key != "" && yamlKey(f) == key {
			return f.Type
		}
	}
	return nil
}

// keysOf returns the sorted keys of struct type t.
func keysOf(t reflect.Type) []string {
	var keys []string
	if t != nil && t.Kind() == reflect.Struct {
		for i := range t.NumField() {
			if k := yamlKey(t.Field(i)); k != "" {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// docKeys returns every dotted key a path (or defaults) accepts, nested
// blocks included ("tls", "tls.ca_file"), and the top-level keys, for the
// documentation test.
func docKeys() []string {
	var keys []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for _, k := range keysOf(t) {
			keys = append(keys, prefix+k)
			if ft := fieldType(t, k); ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(settingType) {
				walk(prefix+k+".", ft)
			}
		}
	}
	walk("", reflect.TypeFor[pathDoc]())
	return append(keys, "max_connections")
}

// lookup returns the value node of key in mapping n, or nil.
func lookup(n *yaml.Node, key string) (k, v *yaml.Node) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i], deref(n.Content[i+1])
		}
	}
	return nil, nil
}

// suggest returns ", did you mean X?" for the closest of keys, if close.
func suggest(key string, keys []string) string {
	best, bestDist := "", 3
	for _, k := range keys {
		if dist := editDistance(strings.ToLower(key), k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(", did you mean %s?", best)
}

// editDistance is the Levenshtein distance between a and b (byte-wise).
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64 // no suggestion for long keys, and bounded work
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func join(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}
