package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/idleprobe/idleprobe/internal/durfmt"
)

// newFlagSet returns a FlagSet that reports nothing by itself: parseArgs
// turns its errors into one-line messages.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseArgs parses args with fs, allowing flags before and after the
// positional arguments ("measure URL --max 10s"); everything after "--" is
// positional. It returns the positional arguments.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

var (
	reInvalidValue = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-(\S+): (.*)$`)
	reUndefined    = regexp.MustCompile(`^flag provided but not defined: -(\S+)$`)
	reNeedsArg     = regexp.MustCompile(`^flag needs an argument: -(\S+)$`)
)

// flagError turns an error from flag.FlagSet.Parse into one line naming the
// flag in its --long form.
func flagError(cmd string, err error) string {
	msg := err.Error()
	if m := reInvalidValue.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("--%s: %s", m[2], m[3])
	}
	if m := reUndefined.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("--%s: unknown flag (see idleprobe %s --help)", m[1], cmd)
	}
	if m := reNeedsArg.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("--%s: needs a value", m[1])
	}
	return oneLine(msg)
}

// oneLine joins a possibly multi-line message into one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

// usageError prints "idleprobe: MSG" for each line of msg and returns
// exitUsage.
func usageError(stderr io.Writer, msgs ...string) int {
	for _, m := range msgs {
		fmt.Fprintf(stderr, "idleprobe: %s\n", m)
	}
	return exitUsage
}

// durationValue is a time.Duration flag with a helpful parse error.
type durationValue struct{ d *time.Duration }

func (v durationValue) String() string {
	if v.d == nil {
		return ""
	}
	return fmtFlagDuration(*v.d)
}

func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration (examples: 250ms, 90s, 15m, 1h)", s)
	}
	*v.d = d
	return nil
}

// fmtFlagDuration prints a duration the way a user would type it: 1h, 15m,
// 1m30s, 250ms.
func fmtFlagDuration(d time.Duration) string { return durfmt.Short(d) }

// intValue is an int flag with a helpful parse error.
type intValue struct{ n *int }

func (v intValue) String() string {
	if v.n == nil {
		return ""
	}
	return strconv.Itoa(*v.n)
}

func (v intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	*v.n = n
	return nil
}

// floatValue is a float64 flag with a helpful parse error. A trailing "%"
// divides by 100 ("2%" is 0.02).
type floatValue struct{ f *float64 }

func (v floatValue) String() string {
	if v.f == nil {
		return ""
	}
	return strconv.FormatFloat(*v.f, 'g', -1, 64)
}

func (v floatValue) Set(s string) error {
	pct := strings.HasSuffix(s, "%")
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return fmt.Errorf("%q is not a number (examples: 0.02, 2%%)", s)
	}
	if pct {
		f /= 100
	}
	*v.f = f
	return nil
}

// choiceValue is a string flag limited to a fixed set of values.
type choiceValue struct {
	s     *string
	valid []string
}

func (v choiceValue) String() string {
	if v.s == nil {
		return ""
	}
	return *v.s
}

func (v choiceValue) Set(s string) error {
	for _, ok := range v.valid {
		if s == ok {
			*v.s = s
			return nil
		}
	}
	return fmt.Errorf("%q is not valid (valid: %s)", s, strings.Join(v.valid, ", "))
}

// headerValue collects repeated "Name: value" headers.
type headerValue struct{ h http.Header }

func (v *headerValue) String() string {
	if v == nil || len(v.h) == 0 {
		return ""
	}
	var parts []string
	for k, vs := range v.h {
		for _, x := range vs {
			parts = append(parts, k+": "+x)
		}
	}
	return strings.Join(parts, ", ")
}

func (v *headerValue) Set(s string) error {
	name, value, ok := strings.Cut(s, ":")
	name = strings.TrimSpace(name)
	if !ok || !validHeaderName(name) {
		return fmt.Errorf("%q is not a header (example: \"Authorization: Bearer xyz\")", s)
	}
	if strings.ContainsAny(value, "\r\n") {
		return fmt.Errorf("%q: header values cannot contain line breaks", s)
	}
	if v.h == nil {
		v.h = make(http.Header)
	}
	v.h.Add(name, strings.TrimSpace(value))
	return nil
}

// validHeaderName reports whether s is an HTTP token (RFC 9110 5.1).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}

// unescape expands \r, \n, \t, \0, \\ and \xHH in s, so that binary-ish
// payloads can be typed on the command line ("PING\r\n").
func unescape(s string) ([]byte, error) {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b = append(b, c)
			continue
		}
		if i+1 >= len(s) {
			return nil, errors.New(`ends with a lone backslash (write \\ for one)`)
		}
		i++
		switch s[i] {
		case 'r':
			b = append(b, '\r')
		case 'n':
			b = append(b, '\n')
		case 't':
			b = append(b, '\t')
		case '0':
			b = append(b, 0)
		case '\\':
			b = append(b, '\\')
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

// logFlags are the Prometheus-style logging flags every subcommand has.
type logFlags struct {
	level, format string
}

func addLogFlags(fs *flag.FlagSet) *logFlags {
	l := &logFlags{level: "info", format: "logfmt"}
	fs.Var(choiceValue{&l.level, []string{"debug", "info", "warn", "error"}}, "log.level", "Only log messages with the given severity or above: debug, info, warn, error.")
	fs.Var(choiceValue{&l.format, []string{"logfmt", "json", "text"}}, "log.format", "Output format of log messages: logfmt (text) or json. Logs go to stderr.")
	return l
}

// logger builds the slog logger the flags ask for, writing to w.
func (l *logFlags) logger(w io.Writer) *slog.Logger {
	var lvl slog.Level
	switch l.level {
	case "debug":
		lvl = slog.LevelDebug
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	default:
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if l.format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// printHelp writes a subcommand's help: the text, then its flags.
func printHelp(w io.Writer, fs *flag.FlagSet, text string) {
	fmt.Fprint(w, strings.TrimLeft(text, "\n"))
	fmt.Fprintln(w, "\nFlags:")
	fs.SetOutput(w)
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintln(w, line)
		usage = strings.ReplaceAll(usage, "\n", "\n      ")
		if f.DefValue != "" && f.DefValue != "false" {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "      %s\n", usage)
	})
	fs.SetOutput(io.Discard)
}
