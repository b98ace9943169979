package configs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idleprobe/idleprobe/prober"
)

// unwrapAll returns the errors joined in err.
func unwrapAll(t *testing.T, err error) []*Error {
	t.Helper()
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	out := make([]*Error, 0, len(list))
	for _, e := range list {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Fatalf("error %q is a %T, want *configs.Error", e, e)
		}
		out = append(out, ce)
	}
	return out
}

// TestBadConfigs loads one invalid file per error case and checks that the
// message names the file, the line and the field, and that one mistake gives
// one error (no cascades).
func TestBadConfigs(t *testing.T) {
	tests := []struct {
		file string
		// want are substrings that must each appear in the error text.
		want []string
		// count is the exact number of errors.
		count int
	}{
		{"syntax.yml", []string{"syntax.yml:2: invalid YAML: did not find expected"}, 1},
		{"unquoted_at.yml", []string{"unquoted_at.yml:4: invalid YAML:", `values that start with @ or * must be quoted, e.g. schedule: "@every 6h"`}, 1},
		{"unquoted_star.yml", []string{"unquoted_star.yml:4: invalid YAML:", "values that start with @ or * must be quoted"}, 1},
		{"empty.yml", []string{"empty.yml: the file is empty"}, 1},
		{"toplevel_list.yml", []string{"toplevel_list.yml:1: the top level must be a mapping", "not a list"}, 1},
		{"unknown_root_key.yml", []string{"unknown_root_key.yml:1: path: unknown field, did you mean paths? (valid: defaults, max_connections, paths)", "paths: missing"}, 2},
		{"unknown_path_key.yml", []string{"unknown_path_key.yml:4: paths[0].max_idel: unknown field, did you mean max_idle?", "(valid: auth, budget, client_idle_timeout, confirm, deadline, direction, group, grpc, hint, ip_family, jitter, labels, max_idle, min_idle, name,"}, 1},
		{"unknown_nested_key.yml", []string{"unknown_nested_key.yml:5: paths[0].tls.insecure: unknown field (valid: ca_file, insecure_skip_verify, server_name)"}, 1},
		{"no_paths.yml", []string{"no_paths.yml: paths: missing"}, 1},
		{"empty_paths.yml", []string{"empty_paths.yml:1: paths: empty"}, 1},
		{"path_not_mapping.yml", []string{"path_not_mapping.yml:4: paths[1]: must be a mapping with at least name and target"}, 1},
		{"missing_name.yml", []string{"missing_name.yml:2: paths[0].name: missing"}, 1},
		{"missing_target.yml", []string{"missing_target.yml:2: paths[0].target: missing", "tcp://"}, 1},
		{"null_target.yml", []string{"null_target.yml:3: paths[0].target: has no value"}, 1},
		{"bad_name.yml", []string{`bad_name.yml:2: paths[0].name: "orders nodeport" is not a valid name`}, 1},
		{"duplicate_name.yml", []string{`duplicate_name.yml:6: paths[2].name: "lb" is already the name of paths[0] (line 2)`}, 1},
		{"name_in_defaults.yml", []string{"name_in_defaults.yml:2: defaults.name: cannot be set in defaults"}, 1},
		{"bad_scheme.yml", []string{`bad_scheme.yml:3: paths[0].target:`, `unknown scheme "ftp" (valid: ` + strings.Join(prober.Schemes, ", ") + ")"}, 1},
		{"tcp_no_port.yml", []string{"tcp_no_port.yml:3: paths[0].target:", "tcp targets need a port"}, 1},
		{"bad_duration.yml", []string{`bad_duration.yml:8: paths[2].max_idle: "90x" is not a duration (examples: 90s, 15m`}, 1},
		{"duration_no_unit.yml", []string{`duration_no_unit.yml:4: paths[0].min_idle: "90" is not a duration`}, 1},
		{"duration_list.yml", []string{"duration_list.yml:4: paths[0].min_idle: must be a duration", "not a list"}, 1},
		{"min_ge_max.yml", []string{"min_ge_max.yml:5: paths[0].max_idle: 1m must be greater than min_idle (2m)"}, 1},
		// Both values come from defaults: reported once, there, not per path.
		{"min_ge_max_defaults.yml", []string{"min_ge_max_defaults.yml:3: defaults.max_idle: 1m must be greater than min_idle (2m)"}, 1},
		{"max_idle_too_long.yml", []string{"max_idle_too_long.yml:4: paths[0].max_idle: 200h is more than 168h"}, 1},
		{"negative_min.yml", []string{"negative_min.yml:4: paths[0].min_idle: -5s must be positive"}, 1},
		{"precision_range.yml", []string{"precision_range.yml:4: paths[0].precision: 1.5 must be between 0 and 1"}, 1},
		{"precision_text.yml", []string{`precision_text.yml:4: paths[0].precision: must be a fraction or a percentage (examples: 0.02, 2%), not "fine"`}, 1},
		{"precision_nan.yml", []string{"precision_nan.yml:4: paths[0].precision: NaN must be between 0 and 1"}, 1},
		{"negative_floor.yml", []string{"negative_floor.yml:4: paths[0].precision_floor: -1s must not be negative"}, 1},
		{"bad_strategy.yml", []string{`bad_strategy.yml:4: paths[0].strategy: "binary" is not a strategy (valid: parallel, sequential)`}, 1},
		{"bad_hint.yml", []string{`bad_hint.yml:4: paths[0].hint: "yes" is not a hint mode (valid: auto, off)`}, 1},
		{"bad_direction.yml", []string{`bad_direction.yml:4: paths[0].direction: "sideways" is not valid (valid: client, server)`}, 1},
		{"direction_http.yml", []string{`direction_http.yml:2: defaults.direction: "server": http targets are measured in the client direction only (the server direction needs tcp or udp)`}, 1},
		{"budget_small.yml", []string{"budget_small.yml:4: paths[0].budget: 1 is too few", "at least 2"}, 1},
		{"budget_over_max.yml", []string{"budget_over_max.yml:5: paths[0].budget: 32 is more than max_connections (16)"}, 1},
		{"budget_not_int.yml", []string{`budget_not_int.yml:4: paths[0].budget: must be a whole number (example: 64), not "many"`}, 1},
		{"max_connections_small.yml", []string{"max_connections_small.yml:1: max_connections: 1 is too few"}, 1},
		// A bad max_connections does not make budgets fail against the default.
		{"max_connections_not_int.yml", []string{`max_connections_not_int.yml:1: max_connections: must be a whole number (example: 64), not "lots"`}, 1},
		{"negative_confirm.yml", []string{"negative_confirm.yml:4: paths[0].confirm: -1 must not be negative"}, 1},
		{"zero_trial_timeout.yml", []string{"zero_trial_timeout.yml:4: paths[0].trial_timeout: 0s must be positive"}, 1},
		{"deadline_not_above_max.yml", []string{"deadline_not_above_max.yml:5: paths[0].deadline: 10m must be longer than max_idle (10m), or 0 for the automatic deadline (3 x max_idle + 2 x (confirm + 2) x trial_timeout for parallel: 30m30s here)"}, 1},
		{"deadline_negative.yml", []string{"deadline_negative.yml:2: defaults.deadline: -1m must not be negative (0 or leave it out for the automatic deadline)"}, 1},
		{"deadline_defaults_below_max.yml", []string{"deadline_defaults_below_max.yml:2: defaults.deadline: 30m must be longer than max_idle (1h), or 0 for the automatic deadline (12 x max_idle + 2 x (confirm + 2) x trial_timeout for sequential: 12h0m30s here)"}, 1},
		{"bad_schedule.yml", []string{`bad_schedule.yml:4: paths[0].schedule: "every 6h"`, "@every 6h"}, 1},
		{"schedule_never.yml", []string{`schedule_never.yml:4: paths[0].schedule: "0 0 30 2 *": never fires`}, 1},
		{"schedule_tz_nospace.yml", []string{`schedule_tz_nospace.yml:4: paths[0].schedule: "CRON_TZ=UTC": a CRON_TZ= prefix must be followed by a space`}, 1},
		{"schedule_every_subsecond.yml", []string{`schedule_every_subsecond.yml:4: paths[0].schedule: "@every 500ms": @every needs a whole number of seconds`}, 1},
		{"jitter_ge_period.yml", []string{"jitter_ge_period.yml:6: paths[0].jitter: 3h must be shorter than the schedule period (3h)"}, 1},
		{"negative_jitter.yml", []string{"negative_jitter.yml:4: paths[0].jitter: -1s must not be negative"}, 1},
		{"client_idle_above_max.yml", []string{"client_idle_above_max.yml:5: paths[0].client_idle_timeout: 20m is above max_idle (10m)", "raise max_idle"}, 1},
		{"client_idle_below_min.yml", []string{"client_idle_below_min.yml:5: paths[0].client_idle_timeout: 10s is below min_idle (30s)"}, 1},
		{"bad_label_name.yml", []string{`bad_label_name.yml:5: paths[0].labels.team-name: "team-name" is not a valid label name`}, 1},
		// Inherited by two paths from defaults: reported once, in defaults.
		{"reserved_label.yml", []string{`reserved_label.yml:3: defaults.labels.instance: "instance" is set by idleprobe or Prometheus itself`}, 1},
		{"label_dunder.yml", []string{"label_dunder.yml:5: paths[0].labels.__meta: label names starting with __ are reserved"}, 1},
		{"labels_list.yml", []string{"labels_list.yml:4: paths[0].labels: must be a mapping of names to values, not a list"}, 1},
		{"bad_header_name.yml", []string{`bad_header_name.yml:6: paths[0].request.headers.X Bad: "X Bad" is not a valid header name`}, 1},
		{"managed_header.yml", []string{"managed_header.yml:6: paths[0].request.headers.Connection: Connection is managed by idleprobe"}, 1},
		{"host_header.yml", []string{"host_header.yml:6: paths[0].request.headers.Host: set the Host header with request.host instead"}, 1},
		{"header_value_newline.yml", []string{"header_value_newline.yml:6: paths[0].request.headers.X-Token: value", "not allowed in a header"}, 1},
		{"duplicate_header.yml", []string{"duplicate_header.yml:7: paths[0].request.headers.x-token: duplicate name (first set on line 6)"}, 1},
		{"bad_method.yml", []string{`bad_method.yml:5: paths[0].request.method: "get": methods are case-sensitive, write GET`}, 1},
		{"bad_host.yml", []string{`bad_host.yml:5: paths[0].request.host: "example.com/x" is not a host name`}, 1},
		{"empty_send.yml", []string{"empty_send.yml:5: paths[0].tcp.send: must not be empty"}, 1},
		{"keepalive_no_idle.yml", []string{"keepalive_no_idle.yml:5: paths[0].tcp_keepalive.idle: missing: tcp_keepalive needs idle", "(example: idle: 30s)"}, 1},
		// Inherited by two paths from defaults: reported once, in defaults.
		{"keepalive_defaults_no_idle.yml", []string{"keepalive_defaults_no_idle.yml:3: defaults.tcp_keepalive.idle: missing"}, 1},
		{"keepalive_zero_idle.yml", []string{"keepalive_zero_idle.yml:5: paths[0].tcp_keepalive.idle: 0s must be positive (example: 30s)"}, 1},
		{"keepalive_subsecond.yml", []string{"keepalive_subsecond.yml:6: paths[0].tcp_keepalive.interval: 1.5s is not a whole number of seconds"}, 1},
		{"keepalive_zero_count.yml", []string{"keepalive_zero_count.yml:6: paths[0].tcp_keepalive.count: 0 must be at least 1"}, 1},
		{"keepalive_not_mapping.yml", []string{"keepalive_not_mapping.yml:4: paths[0].tcp_keepalive: must be a mapping of settings"}, 1},
		{"keepalive_unknown_key.yml", []string{"keepalive_unknown_key.yml:6: paths[0].tcp_keepalive.probes: unknown field (valid: count, idle, interval)"}, 1},
		{"proxy_credentials_in_url.yml", []string{`proxy_credentials_in_url.yml:5: paths[0].proxy.url: proxy "http://192.0.2.9:3128": credentials in the URL are not accepted`}, 1},
		{"proxy_bad_scheme.yml", []string{`proxy_bad_scheme.yml:3: defaults.proxy.url: proxy "socks4://192.0.2.9:1080": unknown scheme "socks4" (valid: http for an HTTP CONNECT proxy, socks5)`}, 1},
		{"proxy_credentials_missing.yml", []string{"proxy_credentials_missing.yml:6: paths[0].proxy.credentials_file: proxy credentials: password file: stat ", "no-such-credentials: no such file or directory"}, 1},
		{"proxy_udp.yml", []string{`proxy_udp.yml:5: paths[0].proxy.url: udp targets cannot go through a proxy`}, 1},
		{"proxy_credentials_no_url.yml", []string{"proxy_credentials_no_url.yml:5: paths[0].proxy.credentials_file: is set but proxy.url is not", "proxy_credentials_no_url.yml:6: paths[0].proxy.idle_timeout: -1s must not be negative"}, 2},
		{"password_file_missing.yml", []string{"password_file_missing.yml:5: paths[0].auth.password_file: password file: stat", filepath.Join("testdata", "bad", "no-such-password")}, 1},
		{"auth_both.yml", []string{"auth_both.yml:6: paths[0].auth.password_env: auth.password_file and auth.password_env are both set; give one"}, 1},
		{"password_in_target.yml", []string{`password_in_target.yml:3: paths[0].target: target "postgres://probe:xxxxx@192.0.2.1/app" has a password in the URL: refused`}, 1},
		{"ca_file_missing.yml", []string{"ca_file_missing.yml:5: paths[0].tls.ca_file: cannot read CA file", filepath.Join("testdata", "bad", "no-such-ca.pem")}, 1},
		{"ca_file_not_pem.yml", []string{"ca_file_not_pem.yml:5: paths[0].tls.ca_file:", "has no PEM certificates"}, 1},
		{"ca_file_dir.yml", []string{"ca_file_dir.yml:5: paths[0].tls.ca_file:", "is not a regular file"}, 1},
		{"bad_bool.yml", []string{`bad_bool.yml:5: paths[0].tls.insecure_skip_verify: must be true or false, not "maybe"`}, 1},
		{"tls_not_mapping.yml", []string{"tls_not_mapping.yml:4: paths[0].tls: must be a mapping of settings"}, 1},
		{"duplicate_key.yml", []string{"duplicate_key.yml:5: paths[0].max_idle: duplicate key (first set on line 4)"}, 1},
		{"merge_key.yml", []string{"merge_key.yml:8: paths[0].<<: YAML merge keys are not supported", "merge_key.yml:3: x: unknown field"}, 2},
		{"bad_ip_family.yml", []string{`bad_ip_family.yml:4: paths[0].ip_family: "ipv6" is not an address family (valid: 4, 6, both; leave it out for the resolver's first address)`}, 1},
		{"ip_family_list.yml", []string{"ip_family_list.yml:4: paths[0].ip_family: must be a string, not a list"}, 1},
		{"bad_group.yml", []string{`bad_group.yml:4: paths[0].group: "orders backend" is not a valid group name`}, 1},
		{"family_name_taken.yml", []string{`family_name_taken.yml:6: paths[1].ip_family: both measures api as "api-ipv4" and "api-ipv6", but "api-ipv4" is already the name of paths[0] (line 2); rename one`}, 1},
		{"second_document.yml", []string{"second_document.yml:4: a second YAML document"}, 1},
		// Every problem in one file is reported, sorted by line, and a bad
		// value in defaults does not cause follow-up errors in the paths.
		{"many_errors.yml", []string{
			`many_errors.yml:3: defaults.max_idle: "90x" is not a duration`,
			"many_errors.yml:7: paths[0].budget: 16 is more than max_connections (8)",
			`many_errors.yml:8: paths[1].name: "a b" is not a valid name`,
			"many_errors.yml:8: paths[1].budget: 64 is more than max_connections (8)",
			`many_errors.yml:9: paths[1].target:`,
			`many_errors.yml:10: paths[1].strategy: "fast" is not a strategy`,
		}, 6},
	}

	seen := map[string]bool{}
	for _, tc := range tests {
		seen[tc.file] = true
		t.Run(strings.TrimSuffix(tc.file, ".yml"), func(t *testing.T) {
			path := filepath.Join("testdata", "bad", tc.file)
			cfg, _, err := Load(path)
			if err == nil {
				t.Fatalf("Load(%s) succeeded, want an error", path)
			}
			if cfg != nil {
				t.Errorf("Load(%s) returned a config along with the error", path)
			}
			msg := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not contain %q; got:\n%s", w, msg)
				}
			}
			errs := unwrapAll(t, err)
			if len(errs) != tc.count {
				t.Errorf("got %d errors, want %d:\n%s", len(errs), tc.count, msg)
			}
			for i, e := range errs {
				if e.File != path {
					t.Errorf("error %q names file %q, want %q", e, e.File, path)
				}
				if strings.Contains(e.Message, "\n") {
					t.Errorf("error %q spans several lines", e)
				}
				if i > 0 && e.Line < errs[i-1].Line {
					t.Errorf("errors not sorted by line: %d after %d", e.Line, errs[i-1].Line)
				}
			}
		})
	}

	// Every file under testdata/bad must be in the table.
	files, err := filepath.Glob(filepath.Join("testdata", "bad", "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("%s has no test case", f)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, _, err := Load(filepath.Join(t.TempDir(), "nope.yml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load of a missing file: got %v, want an error wrapping os.ErrNotExist", err)
	}
}
