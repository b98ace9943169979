package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// TestMeasureFamily: --ip-family 6 on an IPv4-only target is unusable in
// one line naming the host; --ip-family both measures IPv4 and reports
// IPv6 as not measured, side by side, in text and JSON; options that show
// one result are refused with both.
func TestMeasureFamily(t *testing.T) {
	s := startResponder(t)
	target := "http://" + s.HTTPAddr().String() + "/"
	short := []string{"measure", "--min", "100ms", "--max", "300ms", "--timeout", "1s"}

	code, _, errOut := runCmd(t, context.Background(), append(short, "--ip-family", "6", target)...)
	if code != exitFailed || !strings.Contains(errOut, "127.0.0.1 has no IPv6 address") {
		t.Errorf("--ip-family 6: exit %d, stderr %q", code, errOut)
	}
	code, out, errOut := runCmd(t, context.Background(), append(short, "--ip-family", "4", target)...)
	if code != exitOK || !strings.Contains(out, "no limit up to 300ms") {
		t.Errorf("--ip-family 4: exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}

	code, out, errOut = runCmd(t, context.Background(), append(short, "--ip-family", "both", target)...)
	t.Logf("both:\n%s%s", out, errOut)
	ls := lines(out)
	if code != exitFailed || len(ls) != 4 || !strings.HasPrefix(ls[1], "IPv4 ") || !strings.Contains(ls[1], "no limit up to 300ms") ||
		!strings.HasPrefix(ls[2], "IPv6 ") || !strings.Contains(ls[2], "unusable: 127.0.0.1 has no IPv6 address") ||
		!strings.HasSuffix(errOut, "\nidleprobe: IPv6: unusable: 127.0.0.1 has no IPv6 address\n") {
		t.Errorf("--ip-family both: exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
	_, out, _ = runCmd(t, context.Background(), append(short, "--ip-family", "both", "--output", "json", target)...)
	var got struct {
		Paths []struct{ Name, Family, Status string }
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Paths) != 2 ||
		got.Paths[0].Family != "4" || got.Paths[0].Status != "measured" || got.Paths[1].Family != "6" || got.Paths[1].Status != "unusable" {
		t.Errorf("--ip-family both --output json: %v %+v\n%s", err, got, out)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ip-family", "both", "--output", "prom"}, "--output: prom shows one result; with --ip-family both use text or json"},
		{[]string{"--ip-family", "both", "--push-gateway", "http://127.0.0.1:1"}, "--push-gateway: pushes one result"},
		{[]string{"--ip-family", "ipv6"}, `--ip-family: "ipv6" is not an address family (valid: 4, 6, both`},
	} {
		code, _, errOut := runCmd(t, context.Background(), append(append(short, tc.args...), target)...)
		if code != exitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}
