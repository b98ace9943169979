package configs

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/idleprobe/idleprobe/exporters"
	"github.com/idleprobe/idleprobe/internal/durfmt"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
	"github.com/idleprobe/idleprobe/schedule"
)

// NamePattern is what a path name may look like: it is used as a label
// value, in logs, file names and URLs, so it stays plain.
var NamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.:-]*$`)

// MaxNameLength is the longest path name accepted.
const MaxNameLength = 128

// Validate checks every path and the global settings and reports every
// problem (each an *Error, joined) and, separately, the warnings: settings
// that are valid but probably not what was meant.
func (c *Config) Validate() ([]Warning, error) {
	return c.validate(&problems{file: c.File})
}

func (c *Config) validate(probs *problems) ([]Warning, error) {
	maxConnOK := !c.maxConnBad
	if maxConnOK && c.MaxConnections < 2 {
		maxConnOK = false
		probs.errorf(c.maxConnLine, "max_connections", "%d is too few: the cap on live trial connections across all paths must be at least 2 (default %d)", c.MaxConnections, DefaultMaxConnections)
	}
	names := map[string]Path{}
	for i := range c.Paths {
		p := &c.Paths[i]
		if p.origin == nil { // built in Go, not decoded
			p.index = i
		}
		v := pathCheck{Path: p, probs: probs, maxConn: c.MaxConnections, maxConnOK: maxConnOK}
		v.check()
		if p.Name != "" && !p.bad["name"] {
			if first, dup := names[p.Name]; dup {
				o := v.at("name")
				probs.errorf(o.line, o.field, "%q is already the name of paths[%d] (line %d); names must be unique", p.Name, first.index, first.at("name").line)
			} else {
				names[p.Name] = *p
			}
		}
	}
	return probs.result()
}

// at returns where the value of key came from: the line and field path of
// the block that set it, or the path's own entry for a built-in default.
func (p Path) at(key string) origin {
	if o, ok := p.origin[key]; ok {
		return o
	}
	return origin{line: p.line, field: fmt.Sprintf("paths[%d].%s", p.index, key)}
}

// pathCheck validates one path.
type pathCheck struct {
	*Path
	probs     *problems
	maxConn   int
	maxConnOK bool
	// src names the settings of a path built by a front end (Check); nil
	// for a config file's.
	src *Source
}

// at returns where the value of key came from (see Path.at); a front end's
// path names it the front end's way.
func (v pathCheck) at(key string) origin {
	if _, ok := v.origin[key]; !ok && v.src != nil {
		return origin{field: v.src.Name(key)}
	}
	return v.Path.at(key)
}

// ref is how a message refers to the setting key: as written in a config
// file ("min_idle"), or by the front end's name ("--min").
func (v pathCheck) ref(key string) string {
	if v.src != nil {
		return v.src.Name(key)
	}
	return key
}

// given reports whether the setting key was given: written in the file,
// or for a path built in Go, given to the front end (Source.Given) or not
// zero.
func (v pathCheck) given(key string) bool {
	switch {
	case v.origin != nil:
		_, ok := v.origin[key]
		return ok
	case v.src != nil && v.src.Given != nil:
		return v.src.Given(key)
	}
	switch key {
	case "tcp.send":
		return v.TCP.Send != ""
	case "websocket.send":
		return v.WebSocket.Send != ""
	case "ping_keepalive.interval":
		return v.PingKeepalive.Interval != 0
	case "tcp_keepalive.idle":
		return v.TCPKeepalive.Idle != 0
	case "tcp_keepalive.interval":
		return v.TCPKeepalive.Interval != 0
	case "tcp_keepalive.count":
		return v.TCPKeepalive.Count != 0
	}
	return false
}

// ok reports whether all the keys decoded (so checks on them make sense).
func (v pathCheck) ok(keys ...string) bool {
	for _, k := range keys {
		if v.bad[k] {
			return false
		}
	}
	return true
}

func (v pathCheck) errorf(key, format string, args ...any) {
	o := v.at(key)
	v.probs.errorf(o.line, o.field, format, args...)
}

// warnf reports a warning under the path's own field path, noting when the
// value came from the defaults block.
func (v pathCheck) warnf(key, format string, args ...any) {
	o := v.at(key)
	if _, set := v.origin[key]; !set {
		// A block (tls, request, tcp): point at its first setting.
		for k, ko := range v.origin {
			if strings.HasPrefix(k, key+".") && (o.line == v.line || ko.line < o.line) && strings.HasPrefix(ko.field, "paths[") {
				o = ko
			}
		}
	}
	msg := fmt.Sprintf(format, args...)
	if strings.HasPrefix(o.field, "defaults.") {
		msg += fmt.Sprintf(" (%s set on line %d)", o.field, o.line)
	}
	v.probs.warnf(o.line, fmt.Sprintf("paths[%d].%s", v.index, key), "%s", msg)
}

// setHere reports whether the path's own entry sets key (or a key under it).
func (v pathCheck) setHere(key string) bool {
	own := fmt.Sprintf("paths[%d].%s", v.index, key)
	for _, o := range v.origin {
		if o.field == own || strings.HasPrefix(o.field, own+".") {
			return true
		}
	}
	return false
}

// check checks the path: everything for a config file's path, the
// settings of one measurement for a front end's (Check).
func (v pathCheck) check() {
	file := v.src == nil
	if file {
		v.checkName()
	}
	scheme := v.checkTarget()
	var period time.Duration
	if file {
		period = v.checkSchedule()
	}
	searchOK := v.checkSearch()
	if file {
		v.checkClientIdle()
		v.checkLabels()
		v.checkGroup()
		v.checkFamily()
	}
	v.checkTLS(scheme)
	v.checkRequest(scheme)
	v.checkTCP(scheme)
	v.checkAuth(scheme)
	v.checkDirection(scheme)
	keepaliveOK := v.checkKeepalive()
	v.checkProxy(scheme)
	keepaliveOK = v.checkWSGRPC(scheme) && keepaliveOK

	if period > 0 && searchOK && keepaliveOK && v.ok("trial_timeout") && v.TrialTimeout > 0 {
		// The run time is bounded by the deadline (Path.WorstCase).
		if wc := v.Path.WorstCase(); wc > period {
			if wc >= time.Hour {
				wc = wc.Round(time.Minute)
			}
			advice := "schedule less often, lower max_idle, or set a shorter deadline"
			if v.Strategy == plan.Sequential {
				advice = "schedule less often, lower max_idle, set a shorter deadline, or use strategy parallel"
			}
			check := ""
			if v.TCPKeepalive.Check() != nil {
				check = " and its tcp_keepalive check"
			}
			if v.PingKeepalive.Check() != nil {
				check = " and its ping_keepalive check"
			}
			v.warnf("schedule", "%q fires every %s, but a %s measurement with max_idle %s may take up to %s (its deadline%s); runs still going when the next is due are skipped, so results will be older than the schedule suggests (%s)",
				v.Schedule, short(period), v.Strategy, short(v.MaxIdle), short(wc), check, advice)
		}
	}
}

func (v pathCheck) checkName() {
	if v.bad["name"] {
		return
	}
	switch {
	case v.Name == "":
		v.errorf("name", "missing: every path needs a unique name, used as the path label (example: name: orders-nodeport)")
	case len(v.Name) > MaxNameLength:
		v.errorf("name", "is %d characters long (at most %d)", len(v.Name), MaxNameLength)
	case !NamePattern.MatchString(v.Name):
		v.errorf("name", "%q is not a valid name: use letters, digits and _ . : - and start with a letter or _ (example: orders-nodeport)", v.Name)
	}
}

// checkTarget returns the target's scheme, or "" when it is not valid.
func (v pathCheck) checkTarget() string {
	if v.bad["target"] {
		return ""
	}
	if v.Target == "" {
		v.errorf("target", "missing: every path needs a target (examples: tcp://192.0.2.10:6379, http://svc.example.internal:8080/healthz, https://example.com/)")
		return ""
	}
	t, err := prober.ParseTarget(v.Target)
	if err != nil {
		v.errorf("target", "%v", err)
		return ""
	}
	return t.Scheme
}

// checkSchedule checks schedule and jitter and returns the schedule period
// (0 when unknown).
func (v pathCheck) checkSchedule() time.Duration {
	if !v.ok("schedule") {
		return 0
	}
	gaps, err := schedule.GapsOf(v.Schedule)
	if err != nil {
		reason := err.Error()
		var se *schedule.SpecError
		if errors.As(err, &se) {
			reason = se.Reason
		}
		v.errorf("schedule", "%q: %s (examples: %s)", v.Schedule, reason, schedule.Examples)
		return 0
	}
	period := gaps.Shortest // see schedule.Gaps
	if v.ok("jitter") {
		switch {
		case v.Jitter < 0:
			v.errorf("jitter", "%s must not be negative (0s turns jitter off)", v.Jitter)
		case v.Jitter >= period:
			v.errorf("jitter", "%s must be shorter than the schedule period (%s)", short(v.Jitter), short(period))
		}
	}
	return period
}

// checkSearch checks the search settings and reports whether they are all
// valid.
func (v pathCheck) checkSearch() bool {
	good := v.ok("strategy", "min_idle", "max_idle", "precision", "precision_floor", "budget", "confirm", "deadline")
	bad := func(key, format string, args ...any) {
		v.errorf(key, format, args...)
		good = false
	}
	if v.ok("strategy") && v.Strategy != plan.Parallel && v.Strategy != plan.Sequential {
		bad("strategy", "%q is not a strategy (valid: parallel, sequential)", v.Strategy)
	}
	if v.ok("hint") && v.Hint != HintAuto && v.Hint != HintOff {
		bad("hint", "%q is not a hint mode (valid: auto, off)", v.Hint)
	}
	minOK := v.ok("min_idle")
	if minOK && v.MinIdle <= 0 {
		bad("min_idle", "%s must be positive (example: 1s)", v.MinIdle)
		minOK = false
	}
	if v.ok("max_idle") {
		switch {
		case v.MaxIdle > MaxIdleLimit:
			bad("max_idle", "%s is more than %s: a measurement would take days", short(v.MaxIdle), short(MaxIdleLimit))
		case minOK && v.MaxIdle <= v.MinIdle:
			bad("max_idle", "%s must be greater than %s (%s)", short(v.MaxIdle), v.ref("min_idle"), short(v.MinIdle))
		}
	}
	if v.ok("precision") && !(v.Precision > 0 && v.Precision < 1) {
		bad("precision", "%g must be between 0 and 1, or a percentage below 100%% (examples: 0.02, 2%%)", v.Precision)
	}
	if v.ok("precision_floor") && v.PrecisionFloor < 0 {
		bad("precision_floor", "%s must not be negative (example: 250ms)", v.PrecisionFloor)
	}
	if v.ok("budget") {
		switch {
		case v.Budget < 2:
			bad("budget", "%d is too few: a path needs at least 2 connections", v.Budget)
		case v.maxConnOK && v.Budget > v.maxConn:
			bad("budget", "%d is more than max_connections (%d): the path could never open its whole budget (lower %s or raise max_connections)", v.Budget, v.maxConn, v.ref("budget"))
		}
	}
	if v.ok("confirm") && v.Confirm < 0 {
		bad("confirm", "%d must not be negative (0 turns confirmation off)", v.Confirm)
	}
	timeoutOK := v.ok("trial_timeout") && v.TrialTimeout > 0
	if v.ok("trial_timeout") && !timeoutOK {
		v.errorf("trial_timeout", "%s must be positive (example: 5s)", v.TrialTimeout)
	}
	if v.ok("deadline") {
		switch {
		case v.Deadline < 0:
			bad("deadline", "%s must not be negative (0 or leave it out for the automatic deadline)", short(v.Deadline))
		case v.Deadline > 0 && v.ok("max_idle") && v.Deadline <= v.MaxIdle:
			auto := ""
			if good && timeoutOK {
				auto = ": " + short(plan.AutoDeadline(v.Settings(), v.TrialTimeout)) + " here"
			}
			bad("deadline", "%s must be longer than %s (%s), or 0 for the automatic deadline (%d x %s + 2 x (%s + 2) x %s for %s%s)",
				short(v.Deadline), v.ref("max_idle"), short(v.MaxIdle), deadlineFactor(v.Strategy), v.ref("max_idle"), v.ref("confirm"), v.ref("trial_timeout"), v.Strategy, auto)
		}
	}
	return good
}

// deadlineFactor is the multiple of max_idle in the automatic deadline of
// strategy s.
func deadlineFactor(s plan.Strategy) int {
	if s == plan.Sequential {
		return plan.SequentialDeadlineFactor
	}
	return plan.ParallelDeadlineFactor
}

func (v pathCheck) checkClientIdle() {
	if !v.ok("client_idle_timeout") || v.ClientIdleTimeout == 0 {
		return
	}
	if v.ClientIdleTimeout < 0 {
		v.errorf("client_idle_timeout", "%s must not be negative (leave it out when unknown)", v.ClientIdleTimeout)
		return
	}
	if !v.ok("min_idle", "max_idle") || v.MinIdle <= 0 || v.MaxIdle <= v.MinIdle {
		return // reported already
	}
	switch {
	case v.ClientIdleTimeout > v.MaxIdle:
		v.errorf("client_idle_timeout", "%s is above max_idle (%s): a limit between the two would go unseen and the margin would be unknown (raise max_idle to at least %s)", short(v.ClientIdleTimeout), short(v.MaxIdle), short(v.ClientIdleTimeout))
	case v.ClientIdleTimeout < v.MinIdle:
		v.errorf("client_idle_timeout", "%s is below min_idle (%s): the search could not tell whether the path allows it (lower min_idle)", short(v.ClientIdleTimeout), short(v.MinIdle))
	}
}

func (v pathCheck) checkLabels() {
	for _, k := range sortedKeys(v.Labels) {
		if err := exporters.CheckLabelName(k); err != nil {
			v.errorf("labels."+k, "%v", err)
		}
	}
}

func (v pathCheck) checkTLS(scheme string) {
	if v.ok("tls.ca_file") && v.TLS.CAFile != "" {
		if _, err := prober.ReadCAFile(v.TLS.CAFile); err != nil {
			v.errorf("tls.ca_file", "%v", err)
		}
	}
	if t, err := prober.ParseTarget(v.Target); scheme != "" && err == nil && !t.UsesTLS() && v.setHere("tls") {
		v.warnf("tls", "is ignored for %s targets (only https, h2, wss, grpcs, rediss and postgres with sslmode use it)", scheme)
	}
	if v.TLS.InsecureSkipVerify && v.TLS.CAFile != "" && v.setHere("tls") {
		v.warnf("tls", "ca_file is unused when insecure_skip_verify is true")
	}
}

// checkRequest checks the request with prober.ValidateRequest, the rule
// the transports apply; besides, the host is set with request.host, not
// as a header, so that there is one way to set it.
func (v pathCheck) checkRequest(scheme string) {
	r := v.Request
	headerKey := func(name string) string {
		key := "request.headers." + name
		if _, ok := v.origin[key]; !ok && v.origin != nil {
			key = "request.headers"
		}
		return key
	}
	header := make(http.Header, len(r.Headers))
	for _, k := range sortedKeys(r.Headers) {
		if http.CanonicalHeaderKey(k) == "Host" {
			v.errorf(headerKey(k), "set the Host header with %s instead", v.ref("request.host"))
			continue
		}
		header[k] = []string{r.Headers[k]}
	}
	method, host := r.Method, r.Host
	if !v.ok("request.method") {
		method = ""
	}
	if !v.ok("request.host") {
		host = ""
	}
	if err := prober.ValidateRequest(method, header, host); err != nil {
		for _, e := range unjoin(err) {
			var re *prober.RequestError
			if !errors.As(e, &re) {
				v.errorf("request", "%v", e)
				continue
			}
			switch re.Setting {
			case "header":
				v.errorf(headerKey(re.Header), "%s", re.Message)
			default:
				v.errorf("request."+re.Setting, "%s", re.Message)
			}
		}
	}
	if scheme == "tcp" && v.setHere("request") {
		v.warnf("request", "is ignored for tcp targets (use tcp: send/expect)")
	}
}

// unjoin returns the errors joined in err.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func (v pathCheck) checkTCP(scheme string) {
	if v.given("tcp.send") && v.ok("tcp.send") && v.TCP.Send == "" {
		v.errorf("tcp.send", "must not be empty: a reuse has to send at least one byte (leave it out for the default \"\\r\\n\")")
	}
	if scheme != "" && scheme != "tcp" && v.setHere("tcp") {
		v.warnf("tcp", "is ignored for %s targets (use request: for http, https, h2 and h2c)", scheme)
	}
}

// checkAuth checks where the password comes from (prober.Credentials.Check:
// the file is read, the variable only named) and that the target uses it.
func (v pathCheck) checkAuth(scheme string) {
	a := v.Auth
	if !v.ok("auth.password_file", "auth.password_env") {
		return
	}
	switch err := (prober.Credentials{PasswordFile: a.PasswordFile, PasswordEnv: a.PasswordEnv}).Check(); {
	case err == nil:
	case a.PasswordFile != "" && a.PasswordEnv != "":
		v.errorf("auth.password_env", "%s and %s are both set; give one", v.ref("auth.password_file"), v.ref("auth.password_env"))
	case a.PasswordFile != "":
		v.errorf("auth.password_file", "%v", err)
	default:
		v.errorf("auth.password_env", "%v", err)
	}
	switch scheme {
	case "":
	case "postgres", "mysql", "redis", "rediss":
		if v.setHere("request") {
			reuse := "SELECT 1"
			if strings.HasPrefix(scheme, "redis") {
				reuse = "PING"
			}
			v.warnf("request", "is ignored for %s targets (a reuse is %s)", scheme, reuse)
		}
	default:
		if v.setHere("auth") {
			v.warnf("auth", "is ignored for %s targets (only postgres, mysql, redis and rediss log in)", scheme)
		}
	}
}

// checkKeepalive checks tcp_keepalive and reports whether it is usable
// (or absent).
func (v pathCheck) checkKeepalive() bool {
	if !v.ok("tcp_keepalive", "tcp_keepalive.idle", "tcp_keepalive.interval", "tcp_keepalive.count") {
		return false
	}
	k := v.TCPKeepalive
	given := func(key string) bool { return v.given("tcp_keepalive." + key) }
	var set []string
	for _, key := range []string{"idle", "interval", "count"} {
		if given(key) {
			set = append(set, key)
		}
	}
	if len(set) == 0 {
		return true // no check
	}
	good := true
	bad := func(key, format string, args ...any) {
		v.errorf("tcp_keepalive."+key, format, args...)
		good = false
	}
	// The kernel counts keepalive times in whole seconds.
	seconds := func(key string, d time.Duration) {
		switch {
		case d <= 0:
			bad(key, "%s must be positive (example: 30s)", d)
		case d%time.Second != 0:
			bad(key, "%s is not a whole number of seconds: the kernel counts keepalive times in seconds (example: 30s)", d)
		}
	}
	missing := fmt.Sprintf("missing: %s needs idle, the client's idle time before the first probe (example: idle: 30s)", v.ref("tcp_keepalive"))
	switch {
	case given("idle"):
		seconds("idle", k.Idle)
	case v.origin == nil:
		bad("idle", "%s", missing)
	default:
		// Point at the block where it was written: its first setting.
		o := v.at("tcp_keepalive." + set[0])
		v.probs.errorf(o.line, strings.TrimSuffix(o.field, "."+set[0])+".idle", "%s", missing)
		good = false
	}
	if given("interval") {
		seconds("interval", k.Interval)
	}
	if given("count") && k.Count < 1 {
		bad("count", "%d must be at least 1 (default 9)", k.Count)
	}
	return good
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// short formats d without trailing zero units: 6h0m0s becomes 6h, 1m30s
// stays.
func short(d time.Duration) string {
	if d < time.Second {
		return durfmt.Short(d)
	}
	return durfmt.Short(d.Round(time.Second))
}

// checkProxy checks proxy: the URL (prober.ParseProxyURL), that the
// target's scheme can go through a proxy (not udp), the credentials file
// (read, prober.ReadProxyCredentials), the idle timeout, and that neither
// of the latter is set without a URL.
func (v pathCheck) checkProxy(scheme string) {
	px := v.Proxy
	if v.ok("proxy.url") && px.URL != "" {
		if _, err := prober.ParseProxyURL(px.URL); err != nil {
			v.errorf("proxy.url", "%v", err)
		} else if scheme == "udp" {
			hint := ""
			if v.src == nil {
				hint = `; give this path its own proxy: {url: ""} to connect directly`
			}
			v.errorf("proxy.url", "udp targets cannot go through a proxy (HTTP CONNECT and SOCKS5 CONNECT tunnel TCP)%s", hint)
		}
	}
	urlOK := v.ok("proxy.url") && px.URL != ""
	// A path's own url: "" turns off the proxy of the defaults block, and
	// with it the block's other proxy settings.
	off := v.setHere("proxy.url") && px.URL == ""
	if v.ok("proxy.credentials_file") && px.CredentialsFile != "" {
		if off {
			// unused
		} else if !urlOK && v.ok("proxy.url") {
			v.errorf("proxy.credentials_file", "is set but %s is not: credentials are for a proxy", v.ref("proxy.url"))
		} else if err := prober.ReadProxyCredentials(px.CredentialsFile); err != nil {
			v.errorf("proxy.credentials_file", "%v", err)
		}
	}
	if v.ok("proxy.idle_timeout") {
		switch {
		case px.IdleTimeout < 0:
			v.errorf("proxy.idle_timeout", "%s must not be negative (leave it out when unknown)", px.IdleTimeout)
		case px.IdleTimeout > 0 && !urlOK && !off && v.ok("proxy.url"):
			v.errorf("proxy.idle_timeout", "is set but %s is not: it is the proxy's own idle timeout", v.ref("proxy.url"))
		}
	}
}
