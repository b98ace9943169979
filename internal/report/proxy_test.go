package report

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// TestProxyOutputs: a measurement through a proxy says so in every output
// (the JSON's proxy member, the summary's Proxy line, the prom output's
// idleprobe_path_proxy_info), with who closed; the JSON stays a Result.
func TestProxyOutputs(t *testing.T) {
	target, err := prober.ParseTarget("tcp://192.0.2.7:6379")
	if err != nil {
		t.Fatal(err)
	}
	u, err := prober.ParseProxyURL("http://192.0.2.9:3128")
	if err != nil {
		t.Fatal(err)
	}
	px := &prober.Proxy{URL: u, IdleTimeout: 3 * time.Second}
	measure := func(_ context.Context, target prober.Target, opts prober.Options) (prober.Result, error) {
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		return prober.Result{Target: target.String(), Settings: opts.Plan, Status: plan.Measured, Complete: true, Kind: plan.Idle,
			Found: true, Lower: 2700 * time.Millisecond, Upper: 2800 * time.Millisecond, Mode: plan.ClosedIdle,
			Started: start, Finished: start.Add(4 * time.Second)}, nil
	}
	for _, tc := range []struct {
		output string
		want   []string
	}{
		{"json", []string{`"proxy":{"url":"http://192.0.2.9:3128","idle_timeout_seconds":3,"closed_by":"proxy","detail":"the limit (2.7s, 2.8s] matches the idle timeout 3s of proxy http://192.0.2.9:3128: the proxy ended the idle connections"}}`}},
		{"text", []string{"  Proxy:          closed by proxy: the limit (2.7s, 2.8s] matches the idle timeout 3s of proxy http://192.0.2.9:3128"}},
		{"prom", []string{`idleprobe_path_proxy_info{closed_by="proxy",path="tcp://192.0.2.7:6379",proxy="http://192.0.2.9:3128"} 1`}},
	} {
		t.Run(tc.output, func(t *testing.T) {
			var out bytes.Buffer
			opts := prober.Options{Plan: plan.Defaults(), Transport: prober.TransportOptions{Proxy: px}}
			if _, err := Measure(context.Background(), target, opts, Options{Output: tc.output, Measure: measure}, &out); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if tc.output == "json" {
				var r prober.Result
				if err := json.Unmarshal(out.Bytes(), &r); err != nil || r.Upper != 2800*time.Millisecond {
					t.Errorf("the JSON with a proxy does not decode as a Result: %v, %+v", err, r)
				}
			}
		})
	}
}
