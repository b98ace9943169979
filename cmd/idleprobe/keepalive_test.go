package main

import (
	"context"
	"strings"
	"testing"
)

func TestKeepaliveFlagUsageErrors(t *testing.T) {
	url := "http://127.0.0.1:1/"
	for _, tc := range []struct {
		name string
		arg  string
		want string
	}{
		{"sub-second", "300ms", `idleprobe: --keepalive: "300ms": idle 300ms is not a whole number of seconds`},
		{"bad count", "1s,1s,x", `idleprobe: --keepalive: "1s,1s,x": count "x" must be a whole number of probes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(t, context.Background(), "measure", "--keepalive", tc.arg, url)
			if code != exitUsage || stdout != "" {
				t.Errorf("exit %d, stdout %q; want %d and nothing", code, stdout, exitUsage)
			}
			if got := lines(stderr); len(got) != 1 || !strings.HasPrefix(got[0], tc.want) {
				t.Errorf("stderr = %q, want one line starting %q", stderr, tc.want)
			}
		})
	}
}

// measure --keepalive on a path without a limit: the summary says why the
// check was not run, and JSON carries the asked settings.
func TestMeasureKeepaliveNoLimit(t *testing.T) {
	s := startResponder(t)
	target := "http://" + s.HTTPAddr().String() + "/"
	args := []string{"measure", "--min", "100ms", "--max", "400ms", "--timeout", "2s", "--keepalive", "30s,75s,9"}
	code, out, stderr := runCmd(t, context.Background(), append(args, target)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := "  TCP keepalive (idle 30s, interval 75s): not needed: no idle limit up to 400ms"; !strings.Contains(out, want) {
		t.Errorf("summary lacks %q:\n%s", want, out)
	}
	code, out, stderr = runCmd(t, context.Background(), append(args, "--output", "json", target)...)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if want := `"keepalive":{"idle_seconds":30,"interval_seconds":75,"count":9,"held_seconds":0,"rescues":null,`; !strings.Contains(out, want) {
		t.Errorf("JSON lacks %s:\n%s", want, out)
	}
}
