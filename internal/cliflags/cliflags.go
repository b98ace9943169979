// Package cliflags holds what idleprobe's kingpin command line needs beyond
// kingpin: flag values whose syntax is idleprobe's own (a fraction with %,
// escaped payloads, a TCP keepalive setting), parse errors that name their
// flag, and a usage template that lists each command by its summary.
package cliflags

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/idleprobe/idleprobe/prober"
)

// SetUsage makes app's help list each command by its first paragraph, its
// summary (`idleprobe COMMAND --help` shows all of it), and show no "Args:"
// for a command whose only argument is hidden.
func SetUsage(app *kingpin.Application) {
	app.UsageFuncs(template.FuncMap{
		"Summary": func(s string) string { s, _, _ = strings.Cut(s, "\n\n"); return s },
		"Visible": func(args []*kingpin.ArgModel) bool { return len(args) > 0 && !args[0].Hidden },
	})
	app.UsageTemplate(strings.NewReplacer("{{.Help|Wrap 4}}", "{{.Help|Summary|Wrap 4}}",
		"{{if .Context.Args -}}", "{{if .Context.Args|Visible -}}").Replace(kingpin.DefaultUsageTemplate))
}

// Fraction is a float flag value in which a trailing "%" divides by 100
// ("2%" is 0.02).
type Fraction float64

// String prints the fraction as a number ("0.02").
func (f *Fraction) String() string { return strconv.FormatFloat(float64(*f), 'g', -1, 64) }

// Set parses "0.02" or "2%".
func (f *Fraction) Set(s string) error {
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return fmt.Errorf("%q is not a number (examples: 0.02, 2%%)", s)
	}
	if strings.HasSuffix(s, "%") {
		v /= 100
	}
	*f = Fraction(v)
	return nil
}

// Unescape expands \r, \n, \t, \0, \\ and \xHH in s, so that binary-ish
// payloads can be typed on the command line ("PING\r\n").
func Unescape(s string) ([]byte, error) {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b = append(b, s[i])
			continue
		}
		if i+1 >= len(s) {
			return nil, errors.New(`ends with a lone backslash (write \\ for one)`)
		}
		i++
		switch s[i] {
		case 'r', 'n', 't', '0', '\\':
			b = append(b, map[byte]byte{'r': '\r', 'n': '\n', 't': '\t', '0': 0, '\\': '\\'}[s[i]])
		case 'x':
			if i+2 >= len(s) {
				return nil, fmt.Errorf(`\x at offset %d needs two hex digits`, i-1)
			}
			n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return nil, fmt.Errorf(`\x%s at offset %d is not a hex byte`, s[i+1:i+3], i-1)
			}
			b = append(b, byte(n))
			i += 2
		default:
			return nil, fmt.Errorf(`unknown escape \%c at offset %d (valid: \r \n \t \0 \\ \xHH)`, s[i], i-1)
		}
	}
	return b, nil
}

// Keepalive parses a TCP keepalive setting, IDLE[,INTERVAL[,COUNT]] in
// whole seconds ("30s,75s,9"), with one-line errors that say what would be
// valid.
func Keepalive(s string) (*prober.KeepaliveCheck, error) {
	const example = "(example: 30s,75s,9)"
	parts := strings.Split(s, ",")
	if len(parts) > 3 {
		return nil, fmt.Errorf("%q has %d parts, want IDLE[,INTERVAL[,COUNT]] %s", s, len(parts), example)
	}
	k := &prober.KeepaliveCheck{}
	for i, p := range parts {
		p = strings.TrimSpace(p)
		name := []string{"idle", "interval", "count"}[i]
		if p == "" {
			return nil, fmt.Errorf("%q: %s is empty, want IDLE[,INTERVAL[,COUNT]] %s", s, name, example)
		}
		if i == 2 {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("%q: count %q must be a whole number of probes, at least 1 %s", s, p, example)
			}
			k.Count = n
			continue
		}
		d, err := time.ParseDuration(p)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%q: %s %q is not a duration %s", s, name, p, example)
		case d <= 0:
			return nil, fmt.Errorf("%q: %s %s must be positive %s", s, name, p, example)
		case d%time.Second != 0:
			return nil, fmt.Errorf("%q: %s %s is not a whole number of seconds (the kernel counts keepalive times in seconds) %s", s, name, p, example)
		}
		if i == 0 {
			k.Idle = d
		} else {
			k.Interval = d
		}
	}
	return k, nil
}

// namedValue is a flag's value whose parse errors name the flag and say
// what is valid: "--max: "90x" is not a duration (examples: ...)".
type namedValue struct {
	kingpin.Value
	name  string
	valid []string
}

func (v namedValue) Set(s string) error {
	err := v.Value.Set(s)
	if err == nil {
		return nil
	}
	msg := err.Error()
	if g, ok := v.Value.(kingpin.Getter); ok {
		switch g.Get().(type) {
		case time.Duration:
			msg = fmt.Sprintf("%q is not a duration (examples: 250ms, 90s, 15m, 1h)", s)
		case int, int64:
			msg = fmt.Sprintf("%q is not a whole number", s)
		}
	}
	if v.valid != nil {
		msg += " (valid: " + strings.Join(v.valid, ", ") + ")"
	}
	return fmt.Errorf("--%s: %s", v.name, msg)
}

// IsBoolFlag and IsCumulative pass on what kingpin asks of the value.
func (v namedValue) IsBoolFlag() bool {
	b, ok := v.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func (v namedValue) IsCumulative() bool {
	r, ok := v.Value.(interface{ IsCumulative() bool })
	return ok && r.IsCumulative()
}

// NameErrors makes the parse errors of every flag of app (declared so far)
// one line that names the flag and says what is valid: the examples of a
// duration, that a count is a whole number, and valid[flag] for the flags
// whose own errors do not list their values.
func NameErrors(app *kingpin.Application, valid map[string][]string) {
	m := app.Model()
	for _, f := range m.Flags {
		app.GetFlag(f.Name).SetValue(namedValue{f.Value, f.Name, valid[f.Name]})
	}
	for _, cm := range m.Commands {
		for _, f := range cm.Flags {
			app.GetCommand(cm.Name).GetFlag(f.Name).SetValue(namedValue{f.Value, f.Name, valid[f.Name]})
		}
	}
}
