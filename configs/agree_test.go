package configs

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/idleprobe/idleprobe/prober"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// TestCommandLineAgrees pins that the command line (a Path built from
// flags, checked with Path.Check and MeasureFlags) and a config file accept
// and refuse the same settings, each naming the setting its own way, and
// that what both accept measures the same way.
func TestCommandLineAgrees(t *testing.T) {
	caFile := writeCA(t)
	tests := []struct {
		name   string
		target string
		yaml   string      // the settings in a path entry
		cli    func(*Path) // the same settings given as flags
		given  []string    // keys given on the command line with a zero value
		// For a refused setting: the key at fault, the flag the command
		// line names, and the message, the same on both sides unless
		// cliMsg is set.
		key, flag, msg, cliMsg string
	}{
		{name: "method", yaml: "request:\n  method: PROPFIND", cli: func(p *Path) { p.Request.Method = "PROPFIND" }},
		{name: "method lower case", yaml: "request:\n  method: get", cli: func(p *Path) { p.Request.Method = "get" },
			key: "request.method", flag: "--method", msg: `"get": methods are case-sensitive, write GET`},
		{name: "method connect", yaml: "request:\n  method: CONNECT", cli: func(p *Path) { p.Request.Method = "CONNECT" },
			key: "request.method", flag: "--method", msg: "CONNECT cannot be used to measure a path (examples: GET, HEAD, POST)"},
		{name: "method not a token", yaml: "request:\n  method: GE T", cli: func(p *Path) { p.Request.Method = "GE T" },
			key: "request.method", flag: "--method", msg: `"GE T" is not a valid HTTP method (examples: GET, HEAD, POST)`},
		{name: "header", yaml: "request:\n  headers:\n    X-Token: abc", cli: func(p *Path) { p.Request.Headers = map[string]string{"X-Token": "abc"} }},
		{name: "managed header", yaml: "request:\n  headers:\n    Connection: close", cli: func(p *Path) { p.Request.Headers = map[string]string{"Connection": "close"} },
			key: "request.headers.Connection", flag: "--header", msg: "Connection is managed by idleprobe: the connection under test must stay a plain keep-alive connection"},
		{name: "host header", yaml: "request:\n  headers:\n    Host: v.example", cli: func(p *Path) { p.Request.Headers = map[string]string{"Host": "v.example"} },
			key: "request.headers.Host", flag: "--header", msg: "set the Host header with request.host instead", cliMsg: "set the Host header with --host instead"},
		{name: "header name", yaml: "request:\n  headers:\n    X Bad: 1", cli: func(p *Path) { p.Request.Headers = map[string]string{"X Bad": "1"} },
			key: "request.headers.X Bad", flag: "--header", msg: `"X Bad" is not a valid header name (letters, digits and !#$%&'*+-.^_` + "`" + `|~ only)`},
		{name: "header value", yaml: "request:\n  headers:\n    X-A: \"a\\x01b\"", cli: func(p *Path) { p.Request.Headers = map[string]string{"X-A": "a\x01b"} },
			key: "request.headers.X-A", flag: "--header", msg: `value "a\x01b" contains characters not allowed in a header (control characters or line breaks)`},
		{name: "host", yaml: "request:\n  host: v.example:8080", cli: func(p *Path) { p.Request.Host = "v.example:8080" }},
		{name: "bad host", yaml: "request:\n  host: v.example/x", cli: func(p *Path) { p.Request.Host = "v.example/x" },
			key: "request.host", flag: "--host", msg: `"v.example/x" is not a host name (example: orders.example.com)`},
		{name: "max 168h", yaml: "max_idle: 168h", cli: func(p *Path) { p.MaxIdle = 168 * time.Hour }},
		{name: "max 200h", yaml: "max_idle: 200h", cli: func(p *Path) { p.MaxIdle = 200 * time.Hour },
			key: "max_idle", flag: "--max", msg: "200h is more than 168h: a measurement would take days"},
		{name: "max not above min", yaml: "min_idle: 2m\nmax_idle: 1m", cli: func(p *Path) { p.MinIdle, p.MaxIdle = 2*time.Minute, time.Minute },
			key: "max_idle", flag: "--max", msg: "1m must be greater than min_idle (2m)", cliMsg: "1m must be greater than --min (2m)"},
		{name: "min 0", yaml: "min_idle: 0s", cli: func(p *Path) { p.MinIdle = 0 },
			key: "min_idle", flag: "--min", msg: "0s must be positive (example: 1s)"},
		{name: "precision percent", yaml: "precision: 5%", cli: func(p *Path) { p.Precision = 0.05 }},
		{name: "precision 1.5", yaml: "precision: 1.5", cli: func(p *Path) { p.Precision = 1.5 },
			key: "precision", flag: "--precision", msg: "1.5 must be between 0 and 1, or a percentage below 100% (examples: 0.02, 2%)"},
		{name: "precision floor", yaml: "precision_floor: -1s", cli: func(p *Path) { p.PrecisionFloor = -time.Second },
			key: "precision_floor", flag: "--precision-floor", msg: "-1s must not be negative (example: 250ms)"},
		{name: "strategy", yaml: "strategy: binary", cli: func(p *Path) { p.Strategy = "binary" },
			key: "strategy", flag: "--strategy", msg: `"binary" is not a strategy (valid: parallel, sequential)`},
		{name: "budget", yaml: "budget: 1", cli: func(p *Path) { p.Budget = 1 },
			key: "budget", flag: "--budget", msg: "1 is too few: a path needs at least 2 connections"},
		{name: "confirm", yaml: "confirm: -1", cli: func(p *Path) { p.Confirm = -1 },
			key: "confirm", flag: "--confirm", msg: "-1 must not be negative (0 turns confirmation off)"},
		{name: "deadline", yaml: "max_idle: 10m\ndeadline: 45m", cli: func(p *Path) { p.MaxIdle, p.Deadline = 10*time.Minute, 45*time.Minute }},
		{name: "deadline not above max", yaml: "max_idle: 10m\ndeadline: 10m", cli: func(p *Path) { p.MaxIdle, p.Deadline = 10*time.Minute, 10*time.Minute },
			key: "deadline", flag: "--deadline",
			msg:    "10m must be longer than max_idle (10m), or 0 for the automatic deadline (3 x max_idle + 2 x (confirm + 2) x trial_timeout for parallel: 30m30s here)",
			cliMsg: "10m must be longer than --max (10m), or 0 for the automatic deadline (3 x --max + 2 x (--confirm + 2) x --timeout for parallel: 30m30s here)"},
		{name: "timeout", yaml: "trial_timeout: 2s", cli: func(p *Path) { p.TrialTimeout = 2 * time.Second }},
		{name: "timeout 0", yaml: "trial_timeout: 0s", cli: func(p *Path) { p.TrialTimeout = 0 },
			key: "trial_timeout", flag: "--timeout", msg: "0s must be positive (example: 5s)"},
		{name: "ca file", target: "https://192.0.2.1/", yaml: "tls:\n  ca_file: " + caFile + "\n  server_name: api.example", cli: func(p *Path) { p.TLS.CAFile, p.TLS.ServerName = caFile, "api.example" }},
		{name: "ca file missing", target: "https://192.0.2.1/", yaml: "tls:\n  ca_file: /nonexistent/ca.pem", cli: func(p *Path) { p.TLS.CAFile = "/nonexistent/ca.pem" },
			key: "tls.ca_file", flag: "--ca-file", msg: "cannot read CA file /nonexistent/ca.pem: no such file or directory"},
		{name: "send", target: "tcp://192.0.2.1:6379", yaml: "tcp:\n  send: \"PING\\r\\n\"\n  expect: +PONG", cli: func(p *Path) { p.TCP.Send, p.TCP.Expect = "PING\r\n", "+PONG" }},
		{name: "send empty", target: "tcp://192.0.2.1:6379", yaml: "tcp:\n  send: \"\"", cli: func(p *Path) { p.TCP.Send = "" }, given: []string{"tcp.send"},
			key: "tcp.send", flag: "--send", msg: `must not be empty: a reuse has to send at least one byte (leave it out for the default "\r\n")`},
		{name: "keepalive", yaml: "tcp_keepalive:\n  idle: 30s\n  interval: 75s\n  count: 3", cli: func(p *Path) {
			p.TCPKeepalive = TCPKeepalive{Idle: 30 * time.Second, Interval: 75 * time.Second, Count: 3}
		}},
		{name: "keepalive fraction", yaml: "tcp_keepalive:\n  idle: 1500ms", cli: func(p *Path) { p.TCPKeepalive.Idle = 1500 * time.Millisecond },
			key: "tcp_keepalive.idle", flag: "--keepalive IDLE", msg: "1.5s is not a whole number of seconds: the kernel counts keepalive times in seconds (example: 30s)"},
		{name: "keepalive count 0", yaml: "tcp_keepalive:\n  idle: 30s\n  count: 0", cli: func(p *Path) { p.TCPKeepalive.Idle = 30 * time.Second }, given: []string{"tcp_keepalive.idle", "tcp_keepalive.count"},
			key: "tcp_keepalive.count", flag: "--keepalive COUNT", msg: "0 must be at least 1 (default 9)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			target := tc.target
			if target == "" {
				target = "http://192.0.2.1/"
			}
			src := "paths:\n  - name: a\n    target: " + target + "\n    " + strings.ReplaceAll(tc.yaml, "\n", "\n    ") + "\n"
			cfg, _, fileErr := Parse([]byte(src), "a.yml")

			p := NewPath("a", target)
			tc.cli(&p)
			flags := MeasureFlags
			if tc.given != nil {
				flags.Given = func(key string) bool { return slices.Contains(tc.given, key) }
			}
			cliErr := p.Check(flags)

			if tc.key == "" {
				if fileErr != nil || cliErr != nil {
					t.Fatalf("accepted by one side only: config %v; command line %v", fileErr, cliErr)
				}
				// The same settings measure the same way.
				ft, fo := cfg.Paths[0].Measurement()
				ct, co := p.Measurement()
				if ft.String() != ct.String() || !reflect.DeepEqual(fo, co) {
					t.Errorf("config measures %v %+v, command line %v %+v", ft, fo, ct, co)
				}
				return
			}
			want := &Error{File: "a.yml", Line: 4, Field: "paths[0]." + tc.key, Message: tc.msg}
			if got := unwrapAll(t, fileErr); len(got) != 1 || got[0].Field != want.Field || got[0].Message != want.Message {
				t.Errorf("config: %v, want %q", fileErr, want)
			}
			cliWant := &Error{Field: tc.flag, Message: tc.msg}
			if tc.cliMsg != "" {
				cliWant.Message = tc.cliMsg
			}
			if got := unwrapAll(t, cliErr); len(got) != 1 || *got[0] != *cliWant {
				t.Errorf("command line: %v, want %q", cliErr, cliWant)
			}
		})
	}
}

func TestFlagOf(t *testing.T) {
	for key, want := range map[string]string{
		"max_idle":                "--max",
		"trial_timeout":           "--timeout",
		"request.headers.X-Token": "--header",
		"tcp_keepalive.count":     "--keepalive COUNT",
		"tcp_keepalive":           "--keepalive",
		"tls.ca_file":             "--ca-file",
		"target":                  "",
		"schedule":                "schedule",
	} {
		if got := FlagOf(key); got != want {
			t.Errorf("FlagOf(%q) = %q, want %q", key, got, want)
		}
	}
	// Every setting Check looks at has a flag.
	for _, key := range docKeys() {
		switch key {
		case "name", "schedule", "jitter", "labels", "client_idle_timeout", "max_connections", "group",
			"tls", "request", "tcp", "tcp_keepalive", "auth":
			continue // not a measurement flag, or a block
		}
		if got := FlagOf(key); !strings.HasPrefix(got, "--") && key != "target" {
			t.Errorf("no flag for %q", key)
		}
	}
}

// TestCheckSettings: the search settings alone, for the simulator, with
// the rules of a config file.
func TestCheckSettings(t *testing.T) {
	if err := CheckSettings(plan.Defaults(), MeasureFlags); err != nil {
		t.Errorf("defaults refused: %v", err)
	}
	s := plan.Defaults()
	s.Max, s.Budget = 200*time.Hour, 1
	err := CheckSettings(s, MeasureFlags)
	want := []string{"--max: 200h is more than 168h: a measurement would take days", "--budget: 1 is too few: a path needs at least 2 connections"}
	got := unwrapAll(t, err)
	if len(got) != len(want) {
		t.Fatalf("CheckSettings = %v, want %q", err, want)
	}
	for i := range want {
		if got[i].Error() != want[i] {
			t.Errorf("error %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// TestCheckIsMeasurementOnly: what belongs to a config file (name,
// schedule, labels...) is not the command line's business.
func TestCheckIsMeasurementOnly(t *testing.T) {
	p := NewPath("not a valid name", "tcp://192.0.2.1:1")
	p.Schedule, p.Labels, p.ClientIdleTimeout = "never", map[string]string{"job": "x"}, time.Nanosecond
	if err := p.Check(MeasureFlags); err != nil {
		t.Errorf("Check = %v, want nil", err)
	}
	p.Target = "ftp://x/"
	if err := p.Check(MeasureFlags); err == nil || err.Error() != `target "ftp://x/": unknown scheme "ftp" (valid: `+strings.Join(prober.Schemes, ", ")+")" {
		t.Errorf("Check of a bad target = %v, want the target's own message", err)
	}
}

// TestAddHeader: headers given one by one, as on the command line, follow
// the config's rule: names are case-insensitive and given once.
func TestAddHeader(t *testing.T) {
	var r Request
	if err := r.AddHeader("x-token", "a"); err != nil {
		t.Fatal(err)
	}
	if err := r.AddHeader("X-Token", "b"); err == nil || err.Error() != "X-Token: duplicate name (X-Token is given already; give each header once)" {
		t.Errorf("second X-Token: %v", err)
	}
	if !reflect.DeepEqual(r.Headers, map[string]string{"X-Token": "a"}) {
		t.Errorf("Headers = %v", r.Headers)
	}
	// The config file refuses the same.
	_, _, err := Parse([]byte("paths:\n  - name: a\n    target: http://192.0.2.1/\n    request:\n      headers:\n        x-token: a\n        X-Token: b\n"), "h.yml")
	if err == nil || !strings.Contains(err.Error(), "h.yml:7: paths[0].request.headers.X-Token: duplicate name (first set on line 6)") {
		t.Errorf("config: %v", err)
	}
}
