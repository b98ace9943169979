package advice

import (
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// TestPingCheckWords: a ping check (no probe count) is named after the
// protocol's ping and its interval, and the advice says to keep it or that
// it does not help; a TCP keepalive check keeps its words.
func TestPingCheckWords(t *testing.T) {
	base := plan.Result{Found: true, Complete: true, Status: plan.Measured, Kind: plan.Idle, Mode: plan.Reset,
		Lower: 9 * time.Second, Upper: 10 * time.Second, KeepaliveChecked: true}
	for _, tc := range []struct {
		name, target     string
		count            int
		rescues          bool
		rescue, settings string
		advice           string
	}{
		{"grpc-rescued", "grpc://h:1", 0, true, "HTTP/2 PING", "every 5s", "or keep the HTTP/2 PING every 5s: the server accepts it"},
		{"ws-not", "wss://h/", 0, false, "WebSocket ping", "every 5s", "A WebSocket ping every 5s does not help on this path"},
		{"tcp", "http://h/", 9, true, "TCP keepalive", "idle 5s, interval 5s", "or keep TCP keepalive as it is (idle 5s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := base
			r.Target, r.KeepaliveCount, r.KeepaliveRescues = tc.target, tc.count, tc.rescues
			r.KeepaliveIdle, r.KeepaliveInterval = 5*time.Second, 5*time.Second
			if got := RescueName(r); got != tc.rescue {
				t.Errorf("RescueName = %q, want %q", got, tc.rescue)
			}
			if got := KeepaliveSettings(r); got != tc.settings {
				t.Errorf("KeepaliveSettings = %q, want %q", got, tc.settings)
			}
			if got, _ := keepaliveAdvice(r); !strings.Contains(got, tc.advice) {
				t.Errorf("advice %q, want %q", got, tc.advice)
			}
		})
	}
}
