package main

import (
	"context"
	"strings"
	"testing"
)

// measure on the responder's WebSocket echo and gRPC health service, with
// --ping: no limit up to --max, so the summary names the ping check and
// says it was not needed; JSON carries the interval with count 0.
func TestMeasureWSGRPCPingNoLimit(t *testing.T) {
	s := startResponder(t)
	for _, tc := range []struct{ target, name string }{
		{"ws://" + s.HTTPAddr().String() + "/", "WebSocket ping (every 2s)"},
		{"grpc://" + s.HTTPAddr().String(), "HTTP/2 PING (every 2s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"measure", "--min", "100ms", "--max", "400ms", "--timeout", "2s", "--ping", "2s"}
			code, out, stderr := runCmd(t, context.Background(), append(args, tc.target)...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if want := "  " + tc.name + ": not needed: no idle limit up to 400ms"; !strings.Contains(out, want) {
				t.Errorf("summary lacks %q:\n%s", want, out)
			}
			code, out, stderr = runCmd(t, context.Background(), append(args, "--output", "json", tc.target)...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if want := `"keepalive":{"idle_seconds":2,"interval_seconds":2,"count":0,"held_seconds":0,"rescues":null,`; !strings.Contains(out, want) {
				t.Errorf("JSON lacks %s:\n%s", want, out)
			}
		})
	}
}

// An unknown gRPC health service is one line on stderr and exit 1.
func TestMeasureGRPCUnknownService(t *testing.T) {
	s := startResponder(t)
	code, _, stderr := runCmd(t, context.Background(), "measure", "--max", "2s", "--grpc-service", "nope", "grpc://"+s.HTTPAddr().String())
	want := `the server does not know service "nope"`
	if got := lines(stderr); code != exitFailed || len(got) != 1 || !strings.Contains(got[0], want) {
		t.Errorf("exit %d, stderr %q; want 1 and one line containing %q", code, stderr, want)
	}
}
