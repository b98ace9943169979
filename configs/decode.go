package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Decoding goes in two passes over the file. The first reads the YAML node
// tree: syntax errors, the document's shape, merge keys, and the map from
// lines to field paths that error messages need. The second decodes the
// file strictly (unknown fields, duplicate keys and type errors are errors)
// into the tagged structs of doc.go; yaml's messages carry a line, and the
// node tree turns it into a field path with a suggestion.

type decoder struct {
	*problems
	dir  string // directory of the config file, for relative file names
	root *yaml.Node
	all  []site // every node of the tree under root
	// failed holds the field paths whose value yaml could not decode (a
	// block of the wrong kind, a mapping with a duplicate key): checks of
	// what they would have set are skipped.
	failed map[string]bool
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decode turns the file into a Config with every default applied and
// collects the problems found on the way; it does not validate values.
// A nil Config means the file could not be read as a configuration at all.
func decode(data []byte, filename string) (*Config, *problems) {
	d := &decoder{problems: &problems{file: filename}, failed: map[string]bool{}}
	if filename != "<input>" {
		d.dir = filepath.Dir(filename)
	}
	if !d.readTree(data) {
		return nil, d.problems
	}
	structural := d.checkKeys()
	var doc fileDoc
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			if !structural { // a merge key gone wrong is reported already
				d.errorf(0, "", "invalid YAML: %s", strings.TrimPrefix(oneLine(err.Error()), "yaml: "))
			}
			return nil, d.problems
		}
		for _, msg := range te.Errors {
			d.yamlError(msg)
		}
	}
	if d.failed[""] { // the top level had a duplicate key: nothing was decoded
		return nil, d.problems
	}
	return d.config(&doc), d.problems
}

// readTree reads the node tree and checks the document's shape.
func (d *decoder) readTree(data []byte) bool {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	err := dec.Decode(&doc)
	if err == nil {
		var next yaml.Node
		if err = dec.Decode(&next); err == io.EOF {
			err = nil
		} else if err == nil {
			d.errorf(next.Line, "", "a second YAML document (after ---) is not allowed: put every path in one paths: list")
			return false
		}
	}
	if err != nil && err != io.EOF {
		d.syntaxError(err, data)
		return false
	}
	if doc.Kind == 0 || len(doc.Content) == 0 || isNull(deref(doc.Content[0])) {
		d.errorf(0, "", "the file is empty: it needs at least a paths: list (see CONFIGURATION.md)")
		return false
	}
	d.root = deref(doc.Content[0])
	if d.root.Kind != yaml.MappingNode {
		d.errorf(d.root.Line, "", "the top level must be a mapping with paths: (and optionally defaults:, max_connections:), not a %s", kindName(d.root))
		return false
	}
	d.all = sites(d.root)
	return true
}

// syntaxError reports a YAML parse error. yaml gives the line it noticed the
// problem on, which can be a line before the actual mistake.
func (d *decoder) syntaxError(err error, data []byte) {
	msg := strings.TrimSpace(err.Error())
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		d.errorf(line, "", "invalid YAML: %s%s", m[2], quoteHint(data, line))
		return
	}
	d.errorf(0, "", "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// quoteHint explains the most common YAML mistake in an idleprobe config:
// an unquoted value starting with @ or * (a cron schedule), which YAML
// reads as a reserved character or an alias. yaml may name the line before
// the mistake, so the named line and the next are looked at.
func quoteHint(data []byte, line int) string {
	lines := strings.Split(string(data), "\n")
	for _, n := range []int{line, line + 1} {
		if n < 1 || n > len(lines) {
			continue
		}
		_, v, ok := strings.Cut(lines[n-1], ": ")
		if v = strings.TrimSpace(v); ok && (strings.HasPrefix(v, "@") || strings.HasPrefix(v, "*")) {
			return fmt.Sprintf(" (line %d: values that start with @ or * must be quoted, e.g. schedule: \"@every 6h\")", n)
		}
	}
	return ""
}

// checkKeys reports keys that are not plain names and YAML merge keys,
// which the decoder would otherwise apply silently. It reports whether it
// found any.
func (d *decoder) checkKeys() bool {
	found := false
	for _, s := range d.all {
		switch {
		case !s.key:
		case s.node.Kind != yaml.ScalarNode:
			d.errorf(s.node.Line, s.parent, "keys must be plain names, not a %s", kindName(s.node))
			found = true
		case s.node.Value == "<<" && s.node.ShortTag() == "!!merge":
			d.errorf(s.node.Line, s.field, "YAML merge keys are not supported; put settings shared by several paths under defaults:")
			found = true
		}
	}
	return found
}

var (
	reUnknown  = regexp.MustCompile(`^line (\d+): field (.*) not found in type (\S+)$`)
	reDupKey   = regexp.MustCompile(`^line (\d+): mapping key (".*") already defined at line (\d+)$`)
	reTypeErr  = regexp.MustCompile(`^line (\d+): cannot unmarshal (!\S*)(?: .*)? into (\S+)$`)
	reLineOnly = regexp.MustCompile(`^line (\d+): (.*)$`)
	reGoType   = regexp.MustCompile(` (in type|into) [\w.\[\]*]+`)
)

// yamlError turns one of yaml's decoding errors into a problem with the
// field path, what would be valid and, for an unknown key, a suggestion.
func (d *decoder) yamlError(msg string) {
	if m := reUnknown.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		if s, ok := d.find(line, true, func(s site) bool { return s.node.Value == m[2] }); ok {
			keys := keysOf(docType(m[3])) // by name: the key may be under an anchor
			d.errorf(line, s.field, "unknown field%s (valid: %s)", suggest(m[2], keys), strings.Join(keys, ", "))
			return
		}
	}
	if m := reDupKey.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		key, _ := strconv.Unquote(m[2])
		if s, ok := d.find(line, true, func(s site) bool { return s.node.Value == key }); ok {
			if key != "<<" { // merge keys are reported by checkKeys
				d.errorf(line, s.field, "duplicate key (first set on line %s)", m[3])
			}
			d.failed[s.parent] = true // yaml decodes none of the mapping
			return
		}
	}
	if m := reTypeErr.FindStringSubmatch(msg); m != nil {
		// yaml names the line and tag of the value (an alias's target) and
		// the type it would not go into.
		line, _ := strconv.Atoi(m[1])
		if s, ok := d.find(line, false, func(s site) bool { return s.typ != nil && s.typ.String() == m[3] && deref(s.node).ShortTag() == m[2] }); ok {
			d.errorf(line, s.field, "%s, not a %s", kindWant(s), kindName(deref(s.node)))
			d.failed[s.field] = true
			return
		}
		if _, ok := d.find(line, true, func(s site) bool { return s.node.Kind != yaml.ScalarNode }); ok {
			return // a key that is not a plain name: reported by checkKeys
		}
		d.errorf(line, "", "cannot read a %s value here (see CONFIGURATION.md for the shape of the file)", m[2])
		return
	}
	// Anything else: yaml's words, without the names of Go types.
	msg = reGoType.ReplaceAllString(msg, "")
	if m := reLineOnly.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		d.errorf(line, "", "%s", m[2])
		return
	}
	d.errorf(0, "", "%s", msg)
}

// kindWant says what kind of value the field of s needs.
func kindWant(s site) string {
	switch {
	case s.field == "paths":
		return `must be a list of paths (each "- name: ...")`
	case s.parentType != nil && s.parentType.Kind() == reflect.Slice:
		return "must be a mapping with at least name and target"
	}
	return "must be a mapping of settings"
}

// find returns the first site on line (a key when key is set; for an
// alias, the line of its target) that match accepts.
func (d *decoder) find(line int, key bool, match func(site) bool) (site, bool) {
	for _, s := range d.all {
		if deref(s.node).Line == line && s.key == key && match(s) {
			return s, true
		}
	}
	return site{}, false
}

// oneLine joins a multi-line message into one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}
