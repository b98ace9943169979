package configs

import (
	"strings"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// The command line measures one path with the same settings a config file
// gives a path. It builds a Path (NewPath, WithSettings, then the fields of
// its flags) and checks it with Check, so that `idleprobe measure` accepts
// and refuses exactly what a config file does, in its own words.

// Source says how a front end that builds paths itself names their
// settings, and which ones it was given.
type Source struct {
	// Name returns the front end's name for the setting with the given key
	// of a config file's path entry ("max_idle", "request.method",
	// "request.headers.X-Token", "tcp_keepalive.idle"). It names the setting
	// at fault (Error.Field) and the settings a message refers to.
	Name func(key string) string
	// Given reports whether the setting with the key was given, even with
	// a zero value, so that an empty --send is refused like an empty
	// tcp.send. It is asked about the settings whose zero value means "the
	// default" when absent: tcp.send, tcp_keepalive.idle,
	// tcp_keepalive.interval and tcp_keepalive.count (each part of
	// --keepalive IDLE[,INTERVAL[,COUNT]] on its own). Nil: a setting counts
	// as given when it is not zero.
	Given func(key string) bool
}

// MeasureFlags is the Source of `idleprobe measure`: every setting is named
// by the flag that sets it ("max_idle" by --max, "request.headers.X-Token"
// by --header); the target is the positional argument, and its errors are
// not prefixed. Given is nil: copy MeasureFlags and set it to report the
// flags given on the command line (see FlagOf).
var MeasureFlags = Source{Name: FlagOf}

// measureFlags maps the keys of a path to the flags of `idleprobe measure`.
var measureFlags = map[string]string{
	"target":                   "",
	"name":                     "--name",
	"min_idle":                 "--min",
	"max_idle":                 "--max",
	"precision":                "--precision",
	"precision_floor":          "--precision-floor",
	"strategy":                 "--strategy",
	"hint":                     "--hint",
	"direction":                "--direction",
	"budget":                   "--budget",
	"confirm":                  "--confirm",
	"deadline":                 "--deadline",
	"trial_timeout":            "--timeout",
	"tls.insecure_skip_verify": "--insecure",
	"tls.ca_file":              "--ca-file",
	"tls.server_name":          "--server-name",
	"request.method":           "--method",
	"request.headers":          "--header",
	"request.host":             "--host",
	"request.body":             "--body",
	"tcp.send":                 "--send",
	"tcp.expect":               "--expect",
	"tcp_keepalive":            "--keepalive",
	"tcp_keepalive.idle":       "--keepalive IDLE",
	"tcp_keepalive.interval":   "--keepalive INTERVAL",
	"tcp_keepalive.count":      "--keepalive COUNT",
	"proxy":                    "--proxy",
	"proxy.url":                "--proxy",
	"proxy.credentials_file":   "--proxy-credentials-file",
	"proxy.idle_timeout":       "--proxy-idle-timeout",
	"ip_family":                "--ip-family",
	"websocket":                "--send",
	"websocket.send":           "--send",
	"websocket.expect":         "--expect",
	"grpc":                     "--grpc-service",
	"grpc.health_service":      "--grpc-service",
	"ping_keepalive":           "--ping",
	"ping_keepalive.interval":  "--ping",
	"auth.password_file":       "--password-file",
	"auth.password_env":        "--password-env",
}

// FlagOf returns the flag of `idleprobe measure` that sets the setting
// with the given key of a config file's path entry: "--max" for
// "max_idle", "--header" for "request.headers.X-Token", "--keepalive
// COUNT" (the part of the flag's value) for "tcp_keepalive.count", "" for
// "target" (the positional argument). A key without a flag is returned as
// it is.
func FlagOf(key string) string {
	for k := key; ; {
		if f, ok := measureFlags[k]; ok {
			return f
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			return key
		}
		k = k[:i]
	}
}

// NewPath returns a path to target with the built-in defaults of a config
// file (plan.Defaults, prober.DefaultTimeout), for a front end that builds
// a path itself: set what it was given, then Check it and take its
// Measurement.
func NewPath(name, target string) Path {
	p := builtin()
	p.Name, p.Target = name, target
	return p
}

// WithSettings returns p with the search settings s: the inverse of
// Settings.
func (p Path) WithSettings(s plan.Settings) Path {
	p.Strategy, p.MinIdle, p.MaxIdle = s.Strategy, s.Min, s.Max
	p.Precision, p.PrecisionFloor = s.Precision, s.PrecisionFloor
	p.Budget, p.Confirm, p.Deadline = s.Budget, s.Confirm, s.Deadline
	return p
}

// Check checks the settings of one measurement of p, built by a front
// end, with the rules of a config file: the target, the search settings
// (including MaxIdleLimit), trial_timeout, tls (the CA file is read),
// request (prober.ValidateRequest), tcp, tcp_keepalive and proxy (the
// credentials file is read). Name, schedule,
// jitter, labels and client_idle_timeout belong to a config file and are
// not checked. Every problem is an *Error (joined, File and Line empty)
// whose Field and Message name settings with src.
func (p Path) Check(src Source) error {
	q := p
	q.origin, q.bad, q.line, q.index = nil, nil, 0, 0
	probs := &problems{}
	pathCheck{Path: &q, probs: probs, src: &src}.check()
	_, err := probs.result()
	return err
}

// CheckSettings checks search settings alone with the rules of a config
// file, for a front end that searches without a target (the simulator):
// what Check says about them for a path with the default trial timeout.
func CheckSettings(s plan.Settings, src Source) error {
	p := builtin().WithSettings(s)
	probs := &problems{}
	pathCheck{Path: &p, probs: probs, src: &src}.checkSearch()
	_, err := probs.result()
	return err
}
