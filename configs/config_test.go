package configs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/exporters"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
	"github.com/idleprobe/idleprobe/schedule"
)

// mustParse parses src and fails the test on any error.
func mustParse(t *testing.T, src, filename string) (*Config, []Warning) {
	t.Helper()
	cfg, warns, err := Parse([]byte(src), filename)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg, warns
}

// checkMeasurable asserts that p turns into a measurement the prober accepts.
func checkMeasurable(t *testing.T, p Path) {
	t.Helper()
	target, opts := p.Measurement()
	want, err := prober.ParseTarget(p.Target)
	if err != nil {
		t.Errorf("path %s: target %q does not parse: %v", p.Name, p.Target, err)
		return
	}
	if target.String() != want.String() || target.Address != want.Address {
		t.Errorf("path %s: Measurement target %v, want %v", p.Name, target, want)
	}
	if err := opts.Plan.Validate(); err != nil {
		t.Errorf("path %s: plan settings rejected by plan.Validate: %v", p.Name, err)
	}
	if opts.Transport.Timeout <= 0 {
		t.Errorf("path %s: transport timeout %v", p.Name, opts.Transport.Timeout)
	}
	if opts.Limiter != nil || opts.Progress != nil || opts.Logger != nil {
		t.Errorf("path %s: Measurement must leave Limiter, Progress and Logger to the caller", p.Name)
	}
}

// TestExamples loads every shipped example: no errors, no warnings, and
// every path is measurable.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("examples", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("found %d example configs, want at least 2", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg, warns, err := Load(f)
			if err != nil {
				t.Fatalf("Load(%s): %v", f, err)
			}
			for _, w := range warns {
				t.Errorf("warning: %s", w)
			}
			if len(cfg.Paths) == 0 {
				t.Fatal("no paths")
			}
			for _, p := range cfg.Paths {
				checkMeasurable(t, p)
			}
		})
	}
}

func TestDefaultsPrecedence(t *testing.T) {
	const src = `
defaults:
  schedule: "@every 2h"
  max_idle: 30m
  precision: 5%
  budget: 16
  labels:
    cluster: eu
    team: net
  request:
    headers:
      user-agent: idleprobe
      x-env: prod
paths:
  - name: inherits
    target: http://192.0.2.1:8080/
  - name: overrides
    target: http://192.0.2.2:8080/
    schedule: "@every 1h"
    max_idle: 10m
    precision: 0.01
    budget: 8
    jitter: 0s
    labels:
      team: db
      hop: pod
    request:
      headers:
        X-Env: staging
`
	cfg, _ := mustParse(t, src, "p.yml")
	builtinSettings := plan.Defaults()
	inh, ok := cfg.Path("inherits")
	if !ok {
		t.Fatal("path inherits missing")
	}
	ovr, _ := cfg.Path("overrides")

	tests := []struct {
		name      string
		got, want any
	}{
		// built-in defaults where neither block sets a value
		{"builtin min_idle", inh.MinIdle, builtinSettings.Min},
		{"builtin strategy", inh.Strategy, builtinSettings.Strategy},
		{"builtin confirm", inh.Confirm, builtinSettings.Confirm},
		{"builtin precision_floor", inh.PrecisionFloor, builtinSettings.PrecisionFloor},
		{"builtin trial_timeout", inh.TrialTimeout, prober.DefaultTimeout},
		{"builtin client_idle_timeout", inh.ClientIdleTimeout, time.Duration(0)},
		{"builtin max_connections", cfg.MaxConnections, DefaultMaxConnections},
		// the defaults block over the built-ins
		{"defaults schedule", inh.Schedule, "@every 2h"},
		{"defaults max_idle", inh.MaxIdle, 30 * time.Minute},
		{"defaults precision percent", inh.Precision, 0.05},
		{"defaults budget", inh.Budget, 16},
		{"defaults labels", inh.Labels, map[string]string{"cluster": "eu", "team": "net"}},
		{"defaults headers canonical", inh.Request.Headers, map[string]string{"User-Agent": "idleprobe", "X-Env": "prod"}},
		// 10 % of the 2h period is 12m, above the cap.
		{"default jitter capped", inh.Jitter, MaxJitterDefault},
		// the path over the defaults block
		{"path schedule", ovr.Schedule, "@every 1h"},
		{"path max_idle", ovr.MaxIdle, 10 * time.Minute},
		{"path precision fraction", ovr.Precision, 0.01},
		{"path budget", ovr.Budget, 8},
		{"path jitter 0 is kept", ovr.Jitter, time.Duration(0)},
		{"labels merged per key", ovr.Labels, map[string]string{"cluster": "eu", "team": "db", "hop": "pod"}},
		{"headers merged by canonical name", ovr.Request.Headers, map[string]string{"User-Agent": "idleprobe", "X-Env": "staging"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
	if &inh.Labels == &ovr.Labels || reflect.ValueOf(inh.Labels).Pointer() == reflect.ValueOf(ovr.Labels).Pointer() {
		t.Error("paths share one labels map")
	}
}

func TestDefaultJitter(t *testing.T) {
	tests := []struct {
		schedule string
		want     time.Duration
	}{
		{"@every 10m", time.Minute},
		{"@every 30s", 3 * time.Second},
		{"@every 6h", MaxJitterDefault},
		{"*/20 * * * *", 2 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.schedule, func(t *testing.T) {
			cfg, _ := mustParse(t, "defaults:\n  max_idle: 2s\npaths:\n  - name: a\n    target: tcp://192.0.2.1:1\n    schedule: \""+tc.schedule+"\"\n", "j.yml")
			if got := cfg.Paths[0].Jitter; got != tc.want {
				t.Errorf("jitter %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSchedulePeriod: the period the config uses (default jitter, jitter
// limit, run-time warning) is the schedule's shortest gap, schedule.Gaps.
func TestSchedulePeriod(t *testing.T) {
	tests := []struct {
		spec string
		want time.Duration
	}{
		{"@every 6h", 6 * time.Hour},
		{"@every 90s", 90 * time.Second},
		{"@hourly", time.Hour},
		{"@daily", 24 * time.Hour},
		{"@weekly", 7 * 24 * time.Hour},
		{"*/15 * * * *", 15 * time.Minute},
		{"30 */10 * * * *", 10 * time.Minute}, // with seconds
		{"0 9,10 * * *", time.Hour},           // irregular: the shortest gap
		{"0 9 * * MON-FRI", 24 * time.Hour},
		{"CRON_TZ=Europe/Berlin 0 3 * * *", 24 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			g, err := schedule.GapsOf(tc.spec)
			if err != nil {
				t.Fatalf("GapsOf: %v", err)
			}
			if got := g.Shortest; got != tc.want {
				t.Errorf("period %v, want %v", got, tc.want)
			}
		})
	}
	for _, bad := range []string{"", "every 6h", "@every 0s", "@every -1m", "@every 1.5s", "0 0 30 2 *", "TZ=UTC", "CRON_TZ=Nowhere/Land 0 * * * *", "* * * * * * *", "*/0 * * * *"} {
		t.Run("bad "+bad, func(t *testing.T) {
			if _, err := schedule.GapsOf(bad); err == nil {
				t.Errorf("GapsOf(%q) succeeded, want an error", bad)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // substrings, one per expected warning, in order
	}{
		{
			name: "clean",
			src:  "paths:\n  - name: a\n    target: http://192.0.2.1/\n",
		},
		{
			name: "sequential longer than period",
			src:  "paths:\n  - name: a\n    target: http://192.0.2.1/\n    strategy: sequential\n",
			want: []string{`w.yml:2: paths[0].schedule: "@every 6h" fires every 6h, but a sequential measurement with max_idle 1h may take up to 12h1m (its deadline); runs still going`},
		},
		{
			name: "irregular cron shorter than parallel run",
			src:  "paths:\n  - name: a\n    target: http://192.0.2.1/\n    max_idle: 45m\n    schedule: \"0 9,10 * * *\"\n",
			want: []string{`w.yml:5: paths[0].schedule: "0 9,10 * * *" fires every 1h, but a parallel measurement with max_idle 45m may take up to 2h16m (its deadline)`},
		},
		{
			name: "schedule from defaults names the defaults line",
			src:  "defaults:\n  schedule: \"@every 1h\"\npaths:\n  - name: a\n    target: http://192.0.2.1/\n",
			want: []string{`w.yml:2: paths[0].schedule: "@every 1h" fires every 1h, but a parallel measurement with max_idle 1h may take up to 3h1m (its deadline); runs still going when the next is due are skipped, so results will be older than the schedule suggests (schedule less often, lower max_idle, or set a shorter deadline) (defaults.schedule set on line 2)`},
		},
		{
			name: "keepalive check hold makes the run longer than the period",
			src:  "paths:\n  - name: a\n    target: http://192.0.2.1/\n    max_idle: 1h50m\n    tcp_keepalive:\n      idle: 30s\n",
			want: []string{`w.yml:2: paths[0].schedule: "@every 6h" fires every 6h, but a parallel measurement with max_idle 1h50m may take up to 8h16m (its deadline and its tcp_keepalive check);`},
		},
		{
			name: "same without the keepalive check",
			src:  "paths:\n  - name: a\n    target: http://192.0.2.1/\n    max_idle: 1h50m\n",
		},
		{
			name: "an explicit deadline within the period",
			src:  "paths:\n  - name: a\n    target: http://192.0.2.1/\n    max_idle: 2h\n    deadline: 5h\n",
		},
		{
			name: "an explicit deadline longer than the period",
			src:  "paths:\n  - name: a\n    target: http://192.0.2.1/\n    max_idle: 30m\n    deadline: 7h\n",
			want: []string{`w.yml:2: paths[0].schedule: "@every 6h" fires every 6h, but a parallel measurement with max_idle 30m may take up to 7h (its deadline)`},
		},
		{
			name: "tls on http target",
			src:  "paths:\n  - name: a\n    target: http://192.0.2.1/\n    max_idle: 10m\n    tls:\n      server_name: example.com\n",
			want: []string{"w.yml:6: paths[0].tls: is ignored for http targets"},
		},
		{
			name: "tls and request on h2 target",
			src:  "paths:\n  - name: a\n    target: h2://192.0.2.1/\n    max_idle: 10m\n    tls:\n      server_name: example.com\n    request:\n      method: HEAD\n",
		},
		{
			name: "tls on h2c target",
			src:  "paths:\n  - name: a\n    target: h2c://192.0.2.1/\n    max_idle: 10m\n    tls:\n      server_name: example.com\n",
			want: []string{"w.yml:6: paths[0].tls: is ignored for h2c targets (only https, h2, wss, grpcs, rediss and postgres with sslmode use it)"},
		},
		{
			name: "request on tcp target",
			src:  "paths:\n  - name: a\n    target: tcp://192.0.2.1:6379\n    request:\n      method: POST\n",
			want: []string{"w.yml:5: paths[0].request: is ignored for tcp targets"},
		},
		{
			name: "tcp on https target",
			src:  "paths:\n  - name: a\n    target: https://192.0.2.1/\n    tcp:\n      send: x\n",
			want: []string{"w.yml:5: paths[0].tcp: is ignored for https targets"},
		},
		{
			name: "defaults blocks for other schemes are not warned about",
			src:  "defaults:\n  tcp:\n    send: \"PING\\r\\n\"\n  request:\n    method: HEAD\npaths:\n  - name: a\n    target: https://192.0.2.1/\n  - name: b\n    target: tcp://192.0.2.1:6379\n",
		},
		{
			name: "send with literal backslashes",
			src:  "paths:\n  - name: a\n    target: tcp://192.0.2.1:6379\n    tcp:\n      send: PING\\r\\n\n",
			want: []string{`w.yml:5: paths[0].tcp.send: "PING\\r\\n" contains a backslash sequence`},
		},
		{
			name: "insecure with ca file",
			src:  "paths:\n  - name: a\n    target: https://192.0.2.1/\n    tls:\n      insecure_skip_verify: true\n      ca_file: CAFILE\n",
			want: []string{"paths[0].tls: ca_file is unused when insecure_skip_verify is true"},
		},
	}
	caFile := writeCA(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.ReplaceAll(tc.src, "CAFILE", caFile)
			_, warns := mustParse(t, src, "w.yml")
			if len(warns) != len(tc.want) {
				t.Fatalf("got %d warnings, want %d: %v", len(warns), len(tc.want), warns)
			}
			for i, w := range tc.want {
				if !strings.Contains(warns[i].String(), w) {
					t.Errorf("warning %d is %q, want it to contain %q", i, warns[i], w)
				}
			}
		})
	}
}

// TestWarningsWithErrors: warnings are still returned when the file is
// invalid, so check-config can show both.
func TestWarningsWithErrors(t *testing.T) {
	src := "paths:\n  - name: a\n    target: http://192.0.2.1/\n    strategy: sequential\n  - name: b\n    target: ftp://192.0.2.1/\n"
	cfg, warns, err := Parse([]byte(src), "x.yml")
	if err == nil || cfg != nil {
		t.Fatalf("Parse: cfg %v, err %v; want an error and no config", cfg, err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0].String(), "sequential") {
		t.Errorf("warnings %v, want the sequential schedule warning", warns)
	}
}

// writeCA writes a self-signed CA certificate in PEM and returns its path.
func writeCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "idleprobe test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCAFileRelative: a relative ca_file is found next to the config file,
// whatever the working directory.
func TestCAFileRelative(t *testing.T) {
	ca := writeCA(t)
	dir := filepath.Dir(ca)
	cfgFile := filepath.Join(dir, "idleprobe.yml")
	src := "paths:\n  - name: a\n    target: https://192.0.2.1/\n    tls:\n      ca_file: ca.pem\n      server_name: example.com\n"
	if err := os.WriteFile(cfgFile, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _, err := Load(cfgFile)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	_, opts := cfg.Paths[0].Measurement()
	if opts.Transport.CAFile != ca {
		t.Errorf("CAFile %q, want %q", opts.Transport.CAFile, ca)
	}
	if opts.Transport.ServerName != "example.com" {
		t.Errorf("ServerName %q", opts.Transport.ServerName)
	}
}

func TestMeasurement(t *testing.T) {
	const src = `
paths:
  - name: redis
    target: tcp://192.0.2.7:6379
    min_idle: 3s
    max_idle: 20m
    precision: 1%
    precision_floor: 1s
    strategy: sequential
    budget: 4
    confirm: 2
    trial_timeout: 3s
    schedule: "@every 12h"
    tcp:
      send: "PING\r\n"
      expect: "+PONG"
  - name: api
    target: https://192.0.2.8:8443/healthz?deep=1
    tls:
      insecure_skip_verify: true
      server_name: api.example.com
    request:
      method: POST
      host: api.example.com
      body: '{"ping":true}'
      headers:
        content-type: application/json
`
	cfg, _ := mustParse(t, src, "m.yml")
	redisTarget, redis := cfg.Paths[0].Measurement()
	// The automatic deadline, resolved with the path's trial timeout:
	// 12 x 20m + 2 x (2 + 2) x 3s.
	wantPlan := plan.Settings{Strategy: plan.Sequential, Min: 3 * time.Second, Max: 20 * time.Minute, Precision: 0.01, PrecisionFloor: time.Second, Budget: 4, Confirm: 2,
		Deadline: 4*time.Hour + 24*time.Second}
	if redis.Plan != wantPlan {
		t.Errorf("plan %+v, want %+v", redis.Plan, wantPlan)
	}
	if redisTarget.Scheme != "tcp" || redisTarget.Address != "192.0.2.7:6379" {
		t.Errorf("target %+v", redisTarget)
	}
	if string(redis.Transport.Send) != "PING\r\n" || string(redis.Transport.Expect) != "+PONG" || redis.Transport.Timeout != 3*time.Second {
		t.Errorf("tcp transport %+v", redis.Transport)
	}
	if redis.Transport.Header != nil || redis.Transport.Body != nil {
		t.Errorf("tcp path got HTTP options: %+v", redis.Transport)
	}

	apiTarget, api := cfg.Paths[1].Measurement()
	if apiTarget.URL.RequestURI() != "/healthz?deep=1" || apiTarget.Address != "192.0.2.8:8443" {
		t.Errorf("target %+v", apiTarget)
	}
	tr := api.Transport
	if tr.Method != "POST" || tr.Host != "api.example.com" || string(tr.Body) != `{"ping":true}` ||
		!tr.InsecureSkipVerify || tr.ServerName != "api.example.com" || tr.Header.Get("Content-Type") != "application/json" {
		t.Errorf("http transport %+v", tr)
	}
	if tr.Send != nil || tr.Expect != nil {
		t.Errorf("send/expect %q/%q on an https path", tr.Send, tr.Expect)
	}
	// Every call returns fresh values: changing one must not leak.
	tr.Header.Set("Content-Type", "text/plain")
	apiTarget.URL.Path = "/changed"
	again, api2 := cfg.Paths[1].Measurement()
	if api2.Transport.Header.Get("Content-Type") != "application/json" || again.URL.Path != "/healthz" {
		t.Error("Measurement returned values shared with an earlier call")
	}
}

func TestMeasurementKeepalive(t *testing.T) {
	const src = `
defaults:
  tcp_keepalive:
    idle: 30s
paths:
  - name: inherits
    target: tcp://192.0.2.7:6379
  - name: own
    target: http://192.0.2.8/
    tcp_keepalive:
      idle: 10s
      interval: 75s
      count: 3
`
	cfg, _ := mustParse(t, src, "k.yml")
	for _, tc := range []struct {
		path int
		want prober.KeepaliveCheck
	}{
		{0, prober.KeepaliveCheck{Idle: 30 * time.Second}},
		// A path's block is merged over the defaults' key by key.
		{1, prober.KeepaliveCheck{Idle: 10 * time.Second, Interval: 75 * time.Second, Count: 3}},
	} {
		p := cfg.Paths[tc.path]
		t.Run(p.Name, func(t *testing.T) {
			_, opts := p.Measurement()
			if opts.Keepalive == nil || *opts.Keepalive != tc.want {
				t.Fatalf("Keepalive = %+v, want %+v", opts.Keepalive, tc.want)
			}
			if err := opts.Keepalive.Validate(); err != nil {
				t.Errorf("prober rejects the check: %v", err)
			}
			base := p.EffectiveDeadline()
			if wc := p.WorstCase(); wc <= base+p.MaxIdle {
				t.Errorf("worst case %s does not add the keepalive hold (search alone %s, max_idle %s)", wc, base, p.MaxIdle)
			}
		})
	}
	cfg, _ = mustParse(t, "paths:\n  - name: a\n    target: tcp://192.0.2.7:6379\n", "n.yml")
	p := cfg.Paths[0]
	if _, opts := p.Measurement(); opts.Keepalive != nil {
		t.Errorf("Keepalive = %+v without tcp_keepalive, want nil", opts.Keepalive)
	}
	if p.WorstCase() != p.EffectiveDeadline() {
		t.Error("worst case without tcp_keepalive differs from the search's")
	}
	// Built in Go, not decoded: validated the same way.
	gp := builtin()
	gp.Name, gp.Target = "a", "tcp://192.0.2.1:6379"
	gp.TCPKeepalive = TCPKeepalive{Interval: 10 * time.Second}
	gq := gp
	gq.Name, gq.TCPKeepalive = "b", TCPKeepalive{Idle: 10 * time.Second, Count: -2}
	bad := Config{File: "go", MaxConnections: DefaultMaxConnections, Paths: []Path{gp, gq}}
	_, err := bad.Validate()
	for _, want := range []string{"paths[0].tcp_keepalive.idle: missing", "paths[1].tcp_keepalive.count: -2 must be at least 1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate of Go-built paths: %v, want %q", err, want)
		}
	}
}

func TestHash(t *testing.T) {
	base := "paths:\n  - name: a\n    target: http://192.0.2.1/\n    labels: {x: \"1\", y: \"2\"}\n  - name: b\n    target: tcp://192.0.2.2:6379\n"
	hashes := func(src string) []string {
		cfg, _ := mustParse(t, src, "h.yml")
		var out []string
		for _, p := range cfg.Paths {
			out = append(out, p.Hash())
		}
		return out
	}
	h0 := hashes(base)
	tests := []struct {
		name    string
		src     string
		changed []bool // per path
	}{
		{"same file", base, []bool{false, false}},
		{"comments and blank lines move it", "# comment\n\n" + strings.Replace(base, "  - name: b", "\n  # b\n  - name: b", 1), []bool{false, false}},
		{"label order", strings.Replace(base, `{x: "1", y: "2"}`, `{y: "2", x: "1"}`, 1), []bool{false, false}},
		{"explicit default value", strings.Replace(base, "tcp://192.0.2.2:6379\n", "tcp://192.0.2.2:6379\n    budget: 64\n", 1), []bool{false, false}},
		{"label value", strings.Replace(base, `y: "2"`, `y: "3"`, 1), []bool{true, false}},
		{"max_idle of b", base + "    max_idle: 30m\n", []bool{false, true}},
		{"defaults change both", "defaults:\n  confirm: 0\n" + base, []bool{true, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := hashes(tc.src)
			for i := range h {
				if got := h[i] != h0[i]; got != tc.changed[i] {
					t.Errorf("path %d: changed=%v, want %v", i, got, tc.changed[i])
				}
			}
		})
	}
	cfg, _ := mustParse(t, base, "h.yml")
	if !cfg.Paths[0].Equal(cfg.Paths[0]) || cfg.Paths[0].Equal(cfg.Paths[1]) {
		t.Error("Equal disagrees with the settings")
	}
}

func TestLabelNames(t *testing.T) {
	cfg, _ := mustParse(t, "defaults:\n  labels: {cluster: eu}\npaths:\n  - name: a\n    target: tcp://192.0.2.1:1\n    labels: {hop: pod}\n  - name: b\n    target: tcp://192.0.2.1:2\n    labels: {zone: b}\n", "l.yml")
	want := []string{"cluster", "hop", "zone"}
	if got := cfg.LabelNames(); !reflect.DeepEqual(got, want) {
		t.Errorf("LabelNames %v, want %v", got, want)
	}
}

// TestValidateBuiltInGo: a Config assembled in Go (no file) is validated too.
func TestValidateBuiltInGo(t *testing.T) {
	p := builtin()
	p.Name, p.Target = "a", "tcp://192.0.2.1:6379"
	q := p
	q.Budget = 1
	c := &Config{File: "go", MaxConnections: 8, Paths: []Path{p, q}}
	_, err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted a budget of 1, a budget above max_connections and a duplicate name")
	}
	for _, want := range []string{"paths[0].budget: 64 is more than max_connections (8)", "paths[1].budget: 1 is too few", `paths[1].name: "a" is already the name of paths[0]`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
}

// TestDocumented: CONFIGURATION.md mentions every key the decoder accepts.
func TestDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "CONFIGURATION.md"))
	if err != nil {
		t.Fatal(err)
	}
	keys := docKeys()
	if len(keys) < 30 {
		t.Fatalf("docKeys found %d keys, want the whole schema: %v", len(keys), keys)
	}
	for _, key := range keys {
		if !strings.Contains(string(doc), "`"+key+"`") {
			t.Errorf("CONFIGURATION.md does not document `%s`", key)
		}
	}
}

// TestDocumentedExamples: every YAML block in CONFIGURATION.md that is a
// whole config (has a paths: list) is valid and draws no warning.
func TestDocumentedExamples(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "CONFIGURATION.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(doc), "```yaml\n")
	n := 0
	for i, b := range blocks[1:] {
		src, _, ok := strings.Cut(b, "```")
		if !ok {
			t.Fatalf("yaml block %d is not closed", i+1)
		}
		if !strings.Contains("\n"+src, "\npaths:") {
			continue
		}
		n++
		t.Run(fmt.Sprintf("block%d", i+1), func(t *testing.T) {
			_, warns := mustParse(t, src, "CONFIGURATION.md")
			if len(warns) > 0 {
				t.Errorf("warnings: %v", warns)
			}
		})
	}
	if n < 2 {
		t.Errorf("found %d complete examples in CONFIGURATION.md, want at least 2", n)
	}
}

// TestLabelsAcceptedByExporter: every label name the config accepts is one
// the exporter can copy onto its metrics (the two lists must not drift).
func TestLabelsAcceptedByExporter(t *testing.T) {
	candidates := append([]string{"cluster", "hop", "zone", "name", "scheme", "service", "result", "value", "reason", "state", "strategy"}, exporters.ReservedLabels...)
	for _, name := range candidates {
		t.Run(name, func(t *testing.T) {
			src := fmt.Sprintf("paths:\n  - name: a\n    target: tcp://192.0.2.1:1\n    labels: {%s: x}\n", name)
			_, _, err := Parse([]byte(src), "l.yml")
			exportErr := exporters.ValidateLabels(map[string]string{name: "x"})
			if err == nil && exportErr != nil {
				t.Errorf("config accepts label %q, exporter rejects it: %v", name, exportErr)
			}
		})
	}
}
