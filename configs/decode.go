package configs

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// The decoder walks the yaml.Node tree itself instead of handing it to
// yaml's struct decoding: that is what lets every message carry the field
// path, the line and the list of valid keys, and lets one bad value not hide
// the others. Unknown keys are errors, as with yaml's KnownFields(true).

type kind int

const (
	kString kind = iota
	kDuration
	kInt
	kBool
	kPrecision
	kStringMap
	kBlock
)

// field describes one key of a path (or of the defaults block).
type field struct {
	key      string
	kind     kind
	sub      []field // for kBlock
	pathOnly bool    // not allowed in defaults
}

// pathFields is the schema of a path entry; CONFIGURATION.md documents each
// key (a test checks that it mentions all of them).
var pathFields = []field{
	{key: "name", kind: kString, pathOnly: true},
	{key: "target", kind: kString, pathOnly: true},
	{key: "schedule", kind: kString},
	{key: "jitter", kind: kDuration},
	{key: "min_idle", kind: kDuration},
	{key: "max_idle", kind: kDuration},
	{key: "precision", kind: kPrecision},
	{key: "precision_floor", kind: kDuration},
	{key: "strategy", kind: kString},
	{key: "budget", kind: kInt},
	{key: "confirm", kind: kInt},
	{key: "trial_timeout", kind: kDuration},
	{key: "deadline", kind: kDuration},
	{key: "client_idle_timeout", kind: kDuration},
	{key: "labels", kind: kStringMap},
	{key: "tls", kind: kBlock, sub: []field{
		{key: "insecure_skip_verify", kind: kBool},
		{key: "ca_file", kind: kString},
		{key: "server_name", kind: kString},
	}},
	{key: "request", kind: kBlock, sub: []field{
		{key: "method", kind: kString},
		{key: "headers", kind: kStringMap},
		{key: "host", kind: kString},
		{key: "body", kind: kString},
	}},
	{key: "tcp", kind: kBlock, sub: []field{
		{key: "send", kind: kString},
		{key: "expect", kind: kString},
	}},
	{key: "tcp_keepalive", kind: kBlock, sub: []field{
		{key: "idle", kind: kDuration},
		{key: "interval", kind: kDuration},
		{key: "count", kind: kInt},
	}},
}

var rootFields = []field{
	{key: "defaults", kind: kBlock, sub: pathFields},
	{key: "max_connections", kind: kInt},
	{key: "paths"},
}

// value is one decoded setting.
type value struct {
	v        any // string, time.Duration, int, bool, float64 or map[string]string
	line     int
	field    string         // display path, e.g. "paths[1].tls.ca_file"
	keyLines map[string]int // for maps: the line of each key
}

// layer holds the settings written in one block: defaults or one path.
type layer struct {
	vals  map[string]value // by dotted key, e.g. "tls.ca_file"
	bad   map[string]bool  // dotted keys whose value could not be decoded
	line  int
	field string // "defaults" or "paths[i]"
}

func newLayer(line int, field string) *layer {
	return &layer{vals: map[string]value{}, bad: map[string]bool{}, line: line, field: field}
}

type decoder struct {
	*problems
	dir string // directory of the config file, for relative file names
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decode turns the file into a Config with every default applied and
// collects the problems found on the way; it does not validate values.
// A nil Config means the file could not be read as YAML at all.
func decode(data []byte, filename string) (*Config, *problems) {
	d := &decoder{problems: &problems{file: filename}}
	if filename != "<input>" {
		d.dir = filepath.Dir(filename)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	err := dec.Decode(&doc)
	if err == nil {
		var next yaml.Node
		if err = dec.Decode(&next); err == io.EOF {
			err = nil
		} else if err == nil {
			d.errorf(next.Line, "", "a second YAML document (after ---) is not allowed: put every path in one paths: list")
			return nil, d.problems
		}
	}
	if err != nil && err != io.EOF {
		d.syntaxError(err, data)
		return nil, d.problems
	}
	if doc.Kind == 0 || len(doc.Content) == 0 || isNull(deref(doc.Content[0])) {
		d.errorf(0, "", "the file is empty: it needs at least a paths: list (see CONFIGURATION.md)")
		return nil, d.problems
	}
	root := deref(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		d.errorf(root.Line, "", "the top level must be a mapping with paths: (and optionally defaults:, max_connections:), not a %s", kindName(root))
		return nil, d.problems
	}

	c := &Config{File: filename, MaxConnections: DefaultMaxConnections}
	defs := newLayer(0, "defaults")
	var pathLayers []*layer
	var pathsLine int
	d.mapping(root, "", rootFields, func(f field, key, val *yaml.Node, fieldPath string) {
		switch f.key {
		case "defaults":
			defs.line = key.Line
			if isNull(val) {
				return
			}
			d.block(val, "defaults", "", pathFields, true, defs)
		case "max_connections":
			if v, ok := d.integer(val, fieldPath); ok {
				c.MaxConnections = v
			} else {
				c.maxConnBad = true
			}
			c.maxConnLine = val.Line
		case "paths":
			pathsLine = key.Line
			pathLayers = d.paths(val)
		}
	})
	if pathsLine == 0 {
		d.errorf(0, "paths", "missing: the file needs a paths: list with at least one path (name and target)")
	} else if len(pathLayers) == 0 && !d.hasErrorAt(pathsLine) {
		d.errorf(pathsLine, "paths", "empty: give at least one path (name and target)")
	}
	for i, l := range pathLayers {
		if l == nil {
			continue // not a mapping: already reported
		}
		c.Paths = append(c.Paths, d.resolve(defs, l, i))
	}
	return c, d.problems
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

func (d *decoder) hasErrorAt(line int) bool {
	for _, e := range d.errs {
		if e.Line == line {
			return true
		}
	}
	return false
}

// paths decodes the paths list; entries that are not mappings are nil.
func (d *decoder) paths(n *yaml.Node) []*layer {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n.Line, "paths", "must be a list of paths (each \"- name: ...\"), not a %s", kindName(n))
		return nil
	}
	layers := make([]*layer, len(n.Content))
	for i, item := range n.Content {
		item = deref(item)
		fp := fmt.Sprintf("paths[%d]", i)
		if item.Kind != yaml.MappingNode {
			d.errorf(item.Line, fp, "must be a mapping with at least name and target, not a %s", kindName(item))
			continue
		}
		l := newLayer(item.Line, fp)
		d.block(item, fp, "", pathFields, false, l)
		layers[i] = l
	}
	return layers
}

// mapping iterates over the keys of a mapping node, reporting duplicate,
// merge and unknown keys, and calls fn for every known one.
func (d *decoder) mapping(n *yaml.Node, prefix string, fields []field, fn func(f field, key, val *yaml.Node, fieldPath string)) {
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := deref(n.Content[i]), deref(n.Content[i+1])
		if key.Kind != yaml.ScalarNode {
			d.errorf(key.Line, prefix, "keys must be plain names, not a %s", kindName(key))
			continue
		}
		fp := join(prefix, key.Value)
		if key.Value == "<<" {
			d.errorf(key.Line, fp, "YAML merge keys are not supported; put settings shared by several paths under defaults:")
			continue
		}
		if first, dup := seen[key.Value]; dup {
			d.errorf(key.Line, fp, "duplicate key (first set on line %d)", first)
			continue
		}
		seen[key.Value] = key.Line
		f, ok := lookup(fields, key.Value)
		if !ok {
			d.errorf(key.Line, fp, "unknown field%s (valid: %s)", suggest(key.Value, fields), keyList(fields))
			continue
		}
		fn(f, key, val, fp)
	}
}

// block decodes a mapping of path settings into l. keyPrefix is the dotted
// prefix of nested blocks ("tls.").
func (d *decoder) block(n *yaml.Node, prefix, keyPrefix string, fields []field, inDefaults bool, l *layer) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, prefix, "must be a mapping of settings, not a %s", kindName(n))
		if keyPrefix != "" {
			l.bad[strings.TrimSuffix(keyPrefix, ".")] = true
		}
		return
	}
	d.mapping(n, prefix, fields, func(f field, key, val *yaml.Node, fp string) {
		dotted := keyPrefix + f.key
		if inDefaults && f.pathOnly {
			d.errorf(key.Line, fp, "cannot be set in defaults: every path has its own %s", f.key)
			return
		}
		if f.kind == kBlock {
			d.block(val, fp, dotted+".", f.sub, inDefaults, l)
			return
		}
		v := value{line: val.Line, field: fp}
		var ok bool
		switch f.kind {
		case kString:
			v.v, ok = d.str(val, fp)
			if ok && dotted == "tcp.send" {
				d.checkEscapes(val, fp)
			}
		case kDuration:
			v.v, ok = d.duration(val, fp)
		case kInt:
			v.v, ok = d.integer(val, fp)
		case kBool:
			v.v, ok = d.boolean(val, fp)
		case kPrecision:
			v.v, ok = d.precision(val, fp)
		case kStringMap:
			var m map[string]string
			m, v.keyLines, ok = d.stringMap(val, fp, dotted == "request.headers")
			v.v = m
		}
		if !ok {
			l.bad[dotted] = true
			return
		}
		l.vals[dotted] = v
	})
}

func (d *decoder) str(n *yaml.Node, fp string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n.Line, fp, "must be a string, not a %s", kindName(n))
		return "", false
	}
	if isNull(n) {
		d.errorf(n.Line, fp, "has no value (remove the key to use the default)")
		return "", false
	}
	return n.Value, true
}

// checkEscapes warns about "PING\r\n" written without double quotes: YAML
// then keeps the backslashes, and the server receives them literally.
func (d *decoder) checkEscapes(n *yaml.Node, fp string) {
	if n.Style&yaml.DoubleQuotedStyle != 0 {
		return
	}
	if strings.Contains(n.Value, `\r`) || strings.Contains(n.Value, `\n`) {
		d.warnf(n.Line, fp, "%q contains a backslash sequence that YAML keeps literally outside double quotes; write it as \"PING\\r\\n\" to send CR LF", n.Value)
	}
}

func (d *decoder) duration(n *yaml.Node, fp string) (time.Duration, bool) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n.Line, fp, "must be a duration (examples: 90s, 15m, 1h30m), not %s", describe(n))
		return 0, false
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		d.errorf(n.Line, fp, "%q is not a duration (examples: 90s, 15m, 1h30m)", n.Value)
		return 0, false
	}
	return v, true
}

func (d *decoder) integer(n *yaml.Node, fp string) (int, bool) {
	var v int
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&v) != nil {
		d.errorf(n.Line, fp, "must be a whole number (example: 64), not %s", describe(n))
		return 0, false
	}
	return v, true
}

func (d *decoder) boolean(n *yaml.Node, fp string) (bool, bool) {
	var v bool
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&v) != nil {
		d.errorf(n.Line, fp, "must be true or false, not %s", describe(n))
		return false, false
	}
	return v, true
}

// precision accepts a fraction (0.02) or a percentage ("2%").
func (d *decoder) precision(n *yaml.Node, fp string) (float64, bool) {
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		s := strings.TrimSpace(n.Value)
		div := 1.0
		if t, ok := strings.CutSuffix(s, "%"); ok {
			s, div = strings.TrimSpace(t), 100
		}
		if v, err := strconv.ParseFloat(s, 64); err == nil {
			return v / div, true
		}
	}
	d.errorf(n.Line, fp, "must be a fraction or a percentage (examples: 0.02, 2%%), not %s", describe(n))
	return 0, false
}

// stringMap decodes a mapping of strings to strings, with the line of each
// key. Header names are canonicalized (and then must not collide).
func (d *decoder) stringMap(n *yaml.Node, fp string, headers bool) (map[string]string, map[string]int, bool) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, fp, "must be a mapping of names to values, not %s", describe(n))
		return nil, nil, false
	}
	m := map[string]string{}
	lines := map[string]int{}
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := deref(n.Content[i]), deref(n.Content[i+1])
		if key.Kind != yaml.ScalarNode || isNull(key) {
			d.errorf(key.Line, fp, "names must be strings, not %s", describe(key))
			ok = false
			continue
		}
		name := key.Value
		if headers {
			name = http.CanonicalHeaderKey(name)
		}
		kp := fp + "." + key.Value
		if first, dup := lines[name]; dup {
			d.errorf(key.Line, kp, "duplicate name (first set on line %d)", first)
			ok = false
			continue
		}
		lines[name] = key.Line
		if val.Kind != yaml.ScalarNode || isNull(val) {
			d.errorf(val.Line, kp, "must be a string value, not %s", describe(val))
			ok = false
			continue
		}
		m[name] = val.Value
	}
	return m, lines, ok
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
		TrialTimeout:   prober.DefaultTimeout,
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
		keys := make([]string, 0, len(src.vals))
		for key := range src.vals {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			v := src.vals[key]
			delete(p.bad, key)
			d.apply(&p, key, v.v)
			p.origin[key] = origin{line: v.line, field: v.field}
			for k, line := range v.keyLines {
				p.origin[key+"."+k] = origin{line: line, field: v.field + "." + k}
			}
		}
	}
	if _, set := p.origin["jitter"]; !set {
		if period, err := SchedulePeriod(p.Schedule); err == nil {
			p.Jitter = DefaultJitter(period)
		}
	}
	return p
}

func (d *decoder) apply(p *Path, key string, v any) {
	switch key {
	case "name":
		p.Name = v.(string)
	case "target":
		p.Target = v.(string)
	case "schedule":
		p.Schedule = v.(string)
	case "jitter":
		p.Jitter = v.(time.Duration)
	case "min_idle":
		p.MinIdle = v.(time.Duration)
	case "max_idle":
		p.MaxIdle = v.(time.Duration)
	case "precision":
		p.Precision = v.(float64)
	case "precision_floor":
		p.PrecisionFloor = v.(time.Duration)
	case "strategy":
		p.Strategy = plan.Strategy(v.(string))
	case "budget":
		p.Budget = v.(int)
	case "confirm":
		p.Confirm = v.(int)
	case "trial_timeout":
		p.TrialTimeout = v.(time.Duration)
	case "deadline":
		p.Deadline = v.(time.Duration)
	case "client_idle_timeout":
		p.ClientIdleTimeout = v.(time.Duration)
	case "labels":
		p.Labels = merge(p.Labels, v.(map[string]string))
	case "tls.insecure_skip_verify":
		p.TLS.InsecureSkipVerify = v.(bool)
	case "tls.ca_file":
		f := v.(string)
		if f != "" && d.dir != "" && !filepath.IsAbs(f) {
			f = filepath.Join(d.dir, f)
		}
		p.TLS.CAFile = f
	case "tls.server_name":
		p.TLS.ServerName = v.(string)
	case "request.method":
		p.Request.Method = v.(string)
	case "request.headers":
		p.Request.Headers = merge(p.Request.Headers, v.(map[string]string))
	case "request.host":
		p.Request.Host = v.(string)
	case "request.body":
		p.Request.Body = v.(string)
	case "tcp.send":
		p.TCP.Send = v.(string)
	case "tcp.expect":
		p.TCP.Expect = v.(string)
	case "tcp_keepalive.idle":
		p.TCPKeepalive.Idle = v.(time.Duration)
	case "tcp_keepalive.interval":
		p.TCPKeepalive.Interval = v.(time.Duration)
	case "tcp_keepalive.count":
		p.TCPKeepalive.Count = v.(int)
	default:
		panic("configs: no apply for field " + key) // a schema entry without a case: a bug caught by every test
	}
}

// merge returns a new map with the entries of a, overridden by those of b.
func merge(a, b map[string]string) map[string]string {
	m := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}

func lookup(fields []field, key string) (field, bool) {
	for _, f := range fields {
		if f.key == key {
			return f, true
		}
	}
	return field{}, false
}

func keyList(fields []field) string {
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.key
	}
	sort.Strings(keys)
	return strings.Join(keys, ", ")
}

// suggest returns ", did you mean X?" for the closest known key, if close.
func suggest(key string, fields []field) string {
	best, bestDist := "", 3
	for _, f := range fields {
		if dist := editDistance(strings.ToLower(key), f.key); dist < bestDist {
			best, bestDist = f.key, dist
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

// deref follows aliases (bounded: yaml allows an alias to an alias).
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; i < 16 && n.Kind == yaml.AliasNode && n.Alias != nil; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "empty value"
		}
		return "single value"
	case yaml.AliasNode:
		return "alias"
	}
	return "document"
}

// describe quotes a scalar (truncated) or names the node kind.
func describe(n *yaml.Node) string {
	if n.Kind != yaml.ScalarNode {
		return "a " + kindName(n)
	}
	if isNull(n) {
		return "an empty value"
	}
	v := n.Value
	if len(v) > 40 {
		v = v[:40] + "..."
	}
	return strconv.Quote(v)
}
