package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/idleprobe/idleprobe/internal/responder"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// --direction is checked with the config's rule, in the flag's name.
func TestMeasureDirectionUsage(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"server on http", []string{"measure", "--direction", "server", "http://127.0.0.1:1/"},
			`idleprobe: --direction: "server": http targets are measured in the client direction only (the server direction needs tcp or udp)`},
		{"both on h2c", []string{"measure", "--direction", "both", "h2c://127.0.0.1:1/"},
			`idleprobe: --direction: "server": h2c targets are measured in the client direction only`},
		{"bad value", []string{"measure", "--direction", "up", "tcp://127.0.0.1:1"},
			`idleprobe: --direction: enum value must be one of client,server,both, got 'up'`},
		{"both as prom", []string{"measure", "--direction", "both", "--output", "prom", "tcp://127.0.0.1:1"},
			`idleprobe: --direction: both writes two results side by side, as text or json, not --output prom`},
		{"both pushed", []string{"measure", "--direction", "both", "--push-gateway", "http://127.0.0.1:1", "tcp://127.0.0.1:1"},
			`idleprobe: --push-gateway: not with --direction both`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, context.Background(), tc.args...)
			if code != exitUsage || stdout != "" {
				t.Errorf("exit %d, stdout %q; want %d and nothing", code, stdout, exitUsage)
			}
			if got := lines(stderr); len(got) != 1 || !strings.HasPrefix(got[0], tc.want) {
				t.Errorf("stderr %q, want one line starting %q", stderr, tc.want)
			}
		})
	}
}

// --direction both measures the responder's push port from both sides at
// once and prints the two results labelled, in text and in json.
func TestMeasureBoth(t *testing.T) {
	s, err := responder.Start(context.Background(), responder.Config{PushAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	target := "tcp://" + s.PushAddr().String()
	args := []string{"measure", "--direction", "both", "--min", "200ms", "--max", "600ms", "--precision-floor", "100ms", "--timeout", "1s"}

	code, stdout, stderr := runCmd(t, context.Background(), append(args, target)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Client direction (", "Server direction (", "Directions compared: client no limit", "; server no limit"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("text output lacks %q:\n%s", want, stdout)
		}
	}
	if strings.Index(stdout, "Client direction") > strings.Index(stdout, "Server direction") {
		t.Errorf("the client direction is not first:\n%s", stdout)
	}

	code, stdout, stderr = runCmd(t, context.Background(), append(args, "--output", "json", target)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rs map[string]plan.Result
	if err := json.Unmarshal([]byte(stdout), &rs); err != nil {
		t.Fatalf("json output: %v\n%s", err, stdout)
	}
	for _, d := range []string{"client", "server"} {
		r, ok := rs[d]
		if !ok || !r.Complete || r.Found || r.Target != target {
			t.Errorf("%s: %+v, want a complete result of %s with no limit", d, r, target)
		}
	}
	if len(rs) != 2 {
		t.Errorf("json has %d results, want 2", len(rs))
	}
}
