package configs

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The file is decoded strictly (yaml.Decoder.KnownFields) into the tagged
// structs below, the one schema of the file: their yaml tags are the keys,
// their types say how a value is read. Every setting is a leaf type with an
// UnmarshalYAML method that keeps the node it was read from and, when the
// value cannot be read, why (so that one bad value does not hide the
// others). CONFIGURATION.md documents every key (a test checks it).

// fileDoc is the whole file.
type fileDoc struct {
	At             where     `yaml:",inline"`
	MaxConnections integer   `yaml:"max_connections"`
	Defaults       pathDoc   `yaml:"defaults"`
	Paths          []pathDoc `yaml:"paths"`
}

// pathDoc is one entry of paths, or the defaults block. Keys tagged
// config:"path" belong to a path and cannot be set in defaults.
type pathDoc struct {
	At                where        `yaml:",inline"`
	Name              text         `yaml:"name" config:"path"`
	Target            text         `yaml:"target" config:"path"`
	Schedule          text         `yaml:"schedule"`
	Jitter            duration     `yaml:"jitter"`
	MinIdle           duration     `yaml:"min_idle"`
	MaxIdle           duration     `yaml:"max_idle"`
	Precision         fraction     `yaml:"precision"`
	PrecisionFloor    duration     `yaml:"precision_floor"`
	Strategy          text         `yaml:"strategy"`
	Direction         text         `yaml:"direction"`
	Budget            integer      `yaml:"budget"`
	Confirm           integer      `yaml:"confirm"`
	Hint              text         `yaml:"hint"`
	TrialTimeout      duration     `yaml:"trial_timeout"`
	Deadline          duration     `yaml:"deadline"`
	ClientIdleTimeout duration     `yaml:"client_idle_timeout"`
	Labels            stringMap    `yaml:"labels"`
	TLS               tlsDoc       `yaml:"tls"`
	Request           requestDoc   `yaml:"request"`
	TCP               tcpDoc       `yaml:"tcp"`
	TCPKeepalive      keepaliveDoc `yaml:"tcp_keepalive"`
	Proxy             proxyDoc     `yaml:"proxy"`
	Group             text         `yaml:"group"`
	IPFamily          text         `yaml:"ip_family"`
	WebSocket         tcpDoc       `yaml:"websocket"`
	GRPC              grpcDoc      `yaml:"grpc"`
	PingKeepalive     pingDoc      `yaml:"ping_keepalive"`
	Auth              authDoc      `yaml:"auth"`
}

type grpcDoc struct {
	At            where `yaml:",inline"`
	HealthService text  `yaml:"health_service"`
}

type pingDoc struct {
	At       where    `yaml:",inline"`
	Interval duration `yaml:"interval"`
}

type authDoc struct {
	At           where `yaml:",inline"`
	PasswordFile text  `yaml:"password_file"`
	PasswordEnv  text  `yaml:"password_env"`
}

type tlsDoc struct {
	At                 where   `yaml:",inline"`
	InsecureSkipVerify boolean `yaml:"insecure_skip_verify"`
	CAFile             text    `yaml:"ca_file"`
	ServerName         text    `yaml:"server_name"`
}

type requestDoc struct {
	At      where     `yaml:",inline"`
	Method  text      `yaml:"method"`
	Headers headerMap `yaml:"headers"`
	Host    text      `yaml:"host"`
	Body    text      `yaml:"body"`
}

type tcpDoc struct {
	At     where   `yaml:",inline"`
	Send   payload `yaml:"send"`
	Expect text    `yaml:"expect"`
}

type keepaliveDoc struct {
	At       where    `yaml:",inline"`
	Idle     duration `yaml:"idle"`
	Interval duration `yaml:"interval"`
	Count    integer  `yaml:"count"`
}

type proxyDoc struct {
	At              where    `yaml:",inline"`
	URL             text     `yaml:"url"`
	CredentialsFile text     `yaml:"credentials_file"`
	IdleTimeout     duration `yaml:"idle_timeout"`
}

// applyTo sets the values d holds over p: a key that is absent, or whose
// value could not be read, leaves p's value alone. dir resolves a relative
// tls.ca_file and auth.password_file.
func (d *pathDoc) applyTo(p *Path, dir string) {
	d.Name.to(&p.Name)
	d.Target.to(&p.Target)
	d.Schedule.to(&p.Schedule)
	d.Jitter.to(&p.Jitter)
	d.MinIdle.to(&p.MinIdle)
	d.MaxIdle.to(&p.MaxIdle)
	d.Precision.to(&p.Precision)
	d.PrecisionFloor.to(&p.PrecisionFloor)
	d.Strategy.to((*string)(&p.Strategy))
	d.Direction.to(&p.Direction)
	d.Budget.to(&p.Budget)
	d.Confirm.to(&p.Confirm)
	d.Hint.to(&p.Hint)
	d.TrialTimeout.to(&p.TrialTimeout)
	d.Deadline.to(&p.Deadline)
	d.ClientIdleTimeout.to(&p.ClientIdleTimeout)
	d.Labels.mergeInto(&p.Labels)

	d.TLS.InsecureSkipVerify.to(&p.TLS.InsecureSkipVerify)
	if d.TLS.CAFile.to(&p.TLS.CAFile) && p.TLS.CAFile != "" && dir != "" && !filepath.IsAbs(p.TLS.CAFile) {
		p.TLS.CAFile = filepath.Join(dir, p.TLS.CAFile)
	}
	d.TLS.ServerName.to(&p.TLS.ServerName)

	d.Request.Method.to(&p.Request.Method)
	d.Request.Headers.mergeInto(&p.Request.Headers)
	d.Request.Host.to(&p.Request.Host)
	d.Request.Body.to(&p.Request.Body)

	d.TCP.Send.to(&p.TCP.Send)
	d.TCP.Expect.to(&p.TCP.Expect)

	d.TCPKeepalive.Idle.to(&p.TCPKeepalive.Idle)
	d.TCPKeepalive.Interval.to(&p.TCPKeepalive.Interval)
	d.TCPKeepalive.Count.to(&p.TCPKeepalive.Count)

	d.Proxy.URL.to(&p.Proxy.URL)
	if d.Proxy.CredentialsFile.to(&p.Proxy.CredentialsFile) && p.Proxy.CredentialsFile != "" && dir != "" && !filepath.IsAbs(p.Proxy.CredentialsFile) {
		p.Proxy.CredentialsFile = filepath.Join(dir, p.Proxy.CredentialsFile)
	}
	d.Proxy.IdleTimeout.to(&p.Proxy.IdleTimeout)
	d.Group.to(&p.Group)
	d.IPFamily.to(&p.IPFamily)
	d.WebSocket.Send.to(&p.WebSocket.Send)
	d.WebSocket.Expect.to(&p.WebSocket.Expect)
	d.GRPC.HealthService.to(&p.GRPC.HealthService)
	d.PingKeepalive.Interval.to(&p.PingKeepalive.Interval)
	if d.Auth.PasswordFile.to(&p.Auth.PasswordFile) && p.Auth.PasswordFile != "" && dir != "" && !filepath.IsAbs(p.Auth.PasswordFile) {
		p.Auth.PasswordFile = filepath.Join(dir, p.Auth.PasswordFile)
	}
	d.Auth.PasswordEnv.to(&p.Auth.PasswordEnv)
}

// where keeps the mapping node a block was decoded from (nil when the
// block is absent); yaml calls it for an inline field.
type where struct{ node *yaml.Node }

// UnmarshalYAML keeps the node.
func (w *where) UnmarshalYAML(n *yaml.Node) error {
	w.node = n
	return nil
}

// leaf is what every setting keeps besides its value: where it was
// written, and why it could not be read.
type leaf struct {
	node     *yaml.Node // the value as written; nil when absent or empty
	problems []problem
}

// problem is a value that could not be read.
type problem struct {
	line int
	sub  string // appended to the field path: ".X-Token" for a map key
	msg  string
}

func (l *leaf) meta() *leaf { return l }

func (l *leaf) fail(n *yaml.Node, sub, format string, args ...any) {
	l.problems = append(l.problems, problem{line: n.Line, sub: sub, msg: fmt.Sprintf(format, args...)})
}

// ok reports whether the key was written with a readable value.
func (l *leaf) ok() bool { return l.node != nil && len(l.problems) == 0 }

// setting is a leaf type.
type setting interface {
	meta() *leaf
	// empty is the problem with the key written without a value
	// ("target:"), which yaml does not hand to UnmarshalYAML.
	empty() string
}

// text is a string setting. Any scalar is read as its text.
type text struct {
	leaf
	v string
}

// UnmarshalYAML reads a scalar.
func (t *text) UnmarshalYAML(n *yaml.Node) error {
	t.node = n
	if n.Kind != yaml.ScalarNode {
		t.fail(n, "", "must be a string, not %s", describe(n))
		return nil
	}
	t.v = n.Value
	return nil
}

func (*text) empty() string { return "has no value (remove the key to use the default)" }

func (t *text) to(dst *string) bool {
	if t.ok() {
		*dst = t.v
	}
	return t.ok()
}

// payload is the text of tcp.send, which warns about escapes YAML keeps
// literally.
type payload struct{ text }

// warning is set for "PING\r\n" written without double quotes: YAML then
// keeps the backslashes, and the server receives them literally.
func (p *payload) warning() string {
	if !p.ok() || p.node.Style&yaml.DoubleQuotedStyle != 0 || !strings.Contains(p.v, `\r`) && !strings.Contains(p.v, `\n`) {
		return ""
	}
	return fmt.Sprintf("%q contains a backslash sequence that YAML keeps literally outside double quotes; write it as \"PING\\r\\n\" to send CR LF", p.v)
}

// duration is a Go duration string ("90s").
type duration struct {
	leaf
	v time.Duration
}

const durationWant = "must be a duration (examples: 90s, 15m, 1h30m)"

// UnmarshalYAML reads a duration.
func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	d.node = n
	if n.Kind != yaml.ScalarNode {
		d.fail(n, "", "%s, not %s", durationWant, describe(n))
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		d.fail(n, "", "%q is not a duration (examples: 90s, 15m, 1h30m)", n.Value)
		return nil
	}
	d.v = v
	return nil
}

func (*duration) empty() string { return durationWant + ", not an empty value" }

func (d *duration) to(dst *time.Duration) {
	if d.ok() {
		*dst = d.v
	}
}

// integer is a whole number.
type integer struct {
	leaf
	v int
}

const integerWant = "must be a whole number (example: 64)"

// UnmarshalYAML reads an integer (not a string of digits, not a float).
func (i *integer) UnmarshalYAML(n *yaml.Node) error {
	i.node = n
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i.v) != nil {
		i.fail(n, "", "%s, not %s", integerWant, describe(n))
	}
	return nil
}

func (*integer) empty() string { return integerWant + ", not an empty value" }

func (i *integer) to(dst *int) {
	if i.ok() {
		*dst = i.v
	}
}

// boolean is true or false.
type boolean struct {
	leaf
	v bool
}

// UnmarshalYAML reads a boolean.
func (b *boolean) UnmarshalYAML(n *yaml.Node) error {
	b.node = n
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b.v) != nil {
		b.fail(n, "", "must be true or false, not %s", describe(n))
	}
	return nil
}

func (*boolean) empty() string { return "must be true or false, not an empty value" }

func (b *boolean) to(dst *bool) {
	if b.ok() {
		*dst = b.v
	}
}

// fraction is a fraction (0.02) or a percentage ("2%").
type fraction struct {
	leaf
	v float64
}

const fractionWant = "must be a fraction or a percentage (examples: 0.02, 2%)"

// UnmarshalYAML reads a fraction or a percentage.
func (f *fraction) UnmarshalYAML(n *yaml.Node) error {
	f.node = n
	if n.Kind == yaml.ScalarNode {
		s, div := strings.TrimSpace(n.Value), 1.0
		if t, ok := strings.CutSuffix(s, "%"); ok {
			s, div = strings.TrimSpace(t), 100
		}
		if v, err := strconv.ParseFloat(s, 64); err == nil {
			f.v = v / div
			return nil
		}
	}
	f.fail(n, "", "%s, not %s", fractionWant, describe(n))
	return nil
}

func (*fraction) empty() string { return fractionWant + ", not an empty value" }

func (f *fraction) to(dst *float64) {
	if f.ok() {
		*dst = f.v
	}
}

// stringMap is a mapping of names to strings (labels), with the line of
// each name.
type stringMap struct {
	leaf
	v     map[string]string
	lines map[string]int
}

const mapWant = "must be a mapping of names to values"

// UnmarshalYAML reads the mapping.
func (m *stringMap) UnmarshalYAML(n *yaml.Node) error {
	m.read(n, func(name string) string { return name })
	return nil
}

// read reads the mapping n, naming each key with canonical; two keys with
// the same canonical name are an error.
func (m *stringMap) read(n *yaml.Node, canonical func(string) string) {
	m.node = n
	if n.Kind != yaml.MappingNode {
		m.fail(n, "", "%s, not %s", mapWant, describe(n))
		return
	}
	m.v, m.lines = map[string]string{}, map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key, val := deref(n.Content[i]), deref(n.Content[i+1])
		if key.Kind != yaml.ScalarNode || isNull(key) {
			m.fail(key, "", "names must be strings, not %s", describe(key))
			continue
		}
		name, sub := canonical(key.Value), "."+key.Value
		if first, dup := m.lines[name]; dup {
			m.fail(key, sub, "duplicate name (first set on line %d)", first)
			continue
		}
		m.lines[name] = key.Line
		if val.Kind != yaml.ScalarNode || isNull(val) {
			m.fail(val, sub, "must be a string value, not %s", describe(val))
			continue
		}
		m.v[name] = val.Value
	}
}

func (*stringMap) empty() string { return mapWant + ", not an empty value" }

// mergeInto sets a new map in *dst: its entries overridden by m's.
func (m *stringMap) mergeInto(dst *map[string]string) {
	if m.ok() {
		*dst = merge(*dst, m.v)
	}
}

// headerMap is request.headers: names are case-insensitive, kept in
// canonical form.
type headerMap struct{ stringMap }

// UnmarshalYAML reads the mapping, canonicalizing the names.
func (h *headerMap) UnmarshalYAML(n *yaml.Node) error {
	h.read(n, http.CanonicalHeaderKey)
	return nil
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

// describe quotes a scalar (truncated) or names the node kind, with its
// article: `"90x"`, "a list", "an empty value".
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

// keyLines returns the line of each name.
func (m *stringMap) keyLines() map[string]int { return m.lines }
