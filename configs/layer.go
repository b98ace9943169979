package configs

import (
	"fmt"
	"reflect"

	"go.yaml.in/yaml/v3"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
	"github.com/idleprobe/idleprobe/schedule"
)

// layer is one block of settings as written: the defaults block or one
// path, with where each value came from.
type layer struct {
	doc    *pathDoc
	line   int
	origin map[string]origin // by dotted key, e.g. "tls.ca_file"
	bad    map[string]bool   // dotted keys whose value could not be read
}

// builtin returns a path with the built-in defaults.
func builtin() Path {
	s := plan.Defaults()
	return Path{
		Schedule:       DefaultSchedule,
		MinIdle:        s.Min,
		MaxIdle:        s.Max,
		Precision:      s.Precision,
		PrecisionFloor: s.PrecisionFloor,
		Strategy:       s.Strategy,
		Budget:         s.Budget,
		Confirm:        s.Confirm,
		Hint:           HintAuto,
		TrialTimeout:   prober.DefaultTimeout,
	}
}

// config builds the Config from the decoded file: max_connections, then
// every path over the defaults block.
func (d *decoder) config(doc *fileDoc) *Config {
	c := &Config{File: d.file, MaxConnections: DefaultMaxConnections}
	if _, v := lookup(d.root, "max_connections"); v != nil {
		c.maxConnLine = v.Line
		switch m := doc.MaxConnections.meta(); {
		case isNull(v):
			d.errorf(v.Line, "max_connections", "%s", doc.MaxConnections.empty())
			c.maxConnBad = true
		case len(m.problems) > 0:
			d.errorf(v.Line, "max_connections", "%s", m.problems[0].msg)
			c.maxConnBad = true
		default:
			c.MaxConnections = doc.MaxConnections.v
		}
	}

	defs := d.layer(&doc.Defaults, "defaults", true)
	if _, dn := lookup(d.root, "defaults"); d.failed["defaults"] && dn != nil && dn.Kind == yaml.MappingNode {
		// A duplicate key: yaml decoded none of the block. Its settings are
		// unknown, so checks that would use them are skipped.
		for i := 0; i+1 < len(dn.Content); i += 2 {
			defs.bad[dn.Content[i].Value] = true
		}
	}

	pk, pv := lookup(d.root, "paths")
	switch {
	case pk == nil:
		d.errorf(0, "paths", "missing: the file needs a paths: list with at least one path (name and target)")
	case d.failed["paths"]: // not a list: reported
	case isNull(pv) || pv.Kind == yaml.SequenceNode && len(pv.Content) == 0:
		d.errorf(pk.Line, "paths", "empty: give at least one path (name and target)")
	case pv.Kind == yaml.SequenceNode:
		// The decoded paths are in file order, without the entries yaml
		// could not decode; the strict decoder read the file on its own, so
		// entries are matched by where they are written.
		next := 0
		for i, item := range pv.Content {
			item = deref(item)
			for next < len(doc.Paths) && doc.Paths[next].At.node == nil {
				next++ // an empty entry
			}
			field := fmt.Sprintf("paths[%d]", i)
			switch {
			case isNull(item):
				d.errorf(item.Line, field, "must be a mapping with at least name and target, not an empty value")
			case next < len(doc.Paths) && samePlace(doc.Paths[next].At.node, item):
				l := d.layer(&doc.Paths[next], field, false)
				next++
				c.Paths = append(c.Paths, d.resolve(defs, l, i))
			}
			// Otherwise yaml could not decode the entry, and said why.
		}
	}
	return c
}

// layer collects the values, origins and problems of one block.
func (d *decoder) layer(doc *pathDoc, field string, inDefaults bool) *layer {
	l := &layer{doc: doc, origin: map[string]origin{}, bad: map[string]bool{}}
	if doc.At.node != nil {
		l.line = doc.At.node.Line
	}
	d.scan(reflect.ValueOf(doc).Elem(), doc.At.node, "", field, l, inDefaults)
	return l
}

// scan walks the fields of the block v (decoded from the mapping node,
// nil when absent): prefix is the dotted key of the block ("tls."), field
// its field path ("paths[1].tls").
func (d *decoder) scan(v reflect.Value, node *yaml.Node, prefix, field string, l *layer, inDefaults bool) {
	t := v.Type()
	for i := range t.NumField() {
		name := yamlKey(t.Field(i))
		if name == "" {
			continue // the block's own node
		}
		key, fp := prefix+name, field+"."+name
		kn, vn := lookup(node, name)
		s, isSetting := v.Field(i).Addr().Interface().(setting)
		switch {
		case d.failed[fp]: // yaml could not decode it, and said why
			l.bad[key] = true
		case inDefaults && t.Field(i).Tag.Get("config") == "path":
			if kn != nil {
				d.errorf(kn.Line, fp, "cannot be set in defaults: every path has its own %s", name)
			}
		case vn != nil && isNull(vn):
			if isSetting {
				d.errorf(vn.Line, fp, "%s", s.empty())
			} else {
				d.errorf(vn.Line, fp, "must be a mapping of settings, not an empty value")
			}
			l.bad[key] = true
		case !isSetting: // a block
			w, _ := v.Field(i).FieldByName("At").Interface().(where)
			d.scan(v.Field(i), w.node, key+".", fp, l, inDefaults)
		default:
			d.setting(s, key, fp, l)
		}
	}
}

// setting records the value of one setting in l, or its problems.
func (d *decoder) setting(s setting, key, field string, l *layer) {
	m := s.meta()
	for _, p := range m.problems {
		d.errorf(p.line, field+p.sub, "%s", p.msg)
	}
	switch {
	case len(m.problems) > 0:
		l.bad[key] = true
		return
	case m.node == nil:
		return // not set
	}
	l.origin[key] = origin{line: m.node.Line, field: field}
	if sm, ok := s.(interface{ keyLines() map[string]int }); ok {
		for k, line := range sm.keyLines() {
			l.origin[key+"."+k] = origin{line: line, field: field + "." + k}
		}
	}
	if w, ok := s.(interface{ warning() string }); ok {
		if msg := w.warning(); msg != "" {
			d.warnf(m.node.Line, field, "%s", msg)
		}
	}
}

// resolve applies built-in defaults, then defs, then l.
func (d *decoder) resolve(defs, l *layer, index int) Path {
	p := builtin()
	p.line, p.index = l.line, index
	p.origin = map[string]origin{}
	p.bad = map[string]bool{}
	for _, src := range []*layer{defs, l} {
		for key := range src.bad {
			p.bad[key] = true
		}
		for key, o := range src.origin {
			delete(p.bad, key)
			p.origin[key] = o
		}
		src.doc.applyTo(&p, d.dir)
	}
	if _, set := p.origin["jitter"]; !set {
		if g, err := schedule.GapsOf(p.Schedule); err == nil {
			p.Jitter = DefaultJitter(g.Shortest)
		}
	}
	return p
}

// samePlace reports whether a and b are written at the same place.
func samePlace(a, b *yaml.Node) bool {
	return a.Line == b.Line && a.Column == b.Column
}
