package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/advice"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/hop"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// TestSummaryFacts: the summary has a Direction, Hint, Server (a
// database's own idle timeout), Proxy and Ended by line, each in the words
// of package advice (the pages use the same), in that order, once each.
func TestSummaryFacts(t *testing.T) {
	r := result(func(r *prober.Result) {
		r.Target = "postgres://192.0.2.30:5432/app"
		r.Status = plan.Measured
		r.Found, r.Lower, r.Upper, r.Mode = true, 59*time.Second, 60*time.Second, plan.ClosedIdle
		r.Direction = prober.DirectionServer
		r.Hint = plan.HintInfo{From: 60 * time.Second, Held: true}
		r.Server = plan.Server{KeepAliveTimeout: time.Minute}
		r.EndedBy = &plan.EndedBy{Verdict: hop.Verdict{By: hop.Server, Packet: "FIN", ServerHops: 1, EndTTL: 63}, Agree: 3, Judged: 3}
	})
	u, err := prober.ParseProxyURL("socks5://192.0.2.4:1080")
	if err != nil {
		t.Fatal(err)
	}
	v := prober.JudgeProxy(r, &prober.Proxy{URL: u, IdleTimeout: time.Minute})
	var b bytes.Buffer
	writeSummary(&b, r, v)
	got := b.String()

	want := []struct{ label, text string }{
		{"Direction", advice.Direction(r)},
		{"Hint", advice.Hint(r)},
		{"Idle limit", advice.Limit(r)},
		{"Server", strings.Join(advice.Server(r), "; ")},
		{"Proxy", advice.Proxy(v)},
		{"Ended by", advice.EndedBy(r)},
	}
	at := -1
	for _, w := range want {
		if w.text == "" {
			t.Fatalf("the fixture gives no %s line", w.label)
		}
		line := "  " + padLabel(w.label) + " " + w.text + "\n"
		i := strings.Index(got, line)
		if i < 0 {
			t.Errorf("summary lacks %q:\n%s", line, got)
			continue
		}
		if i < at {
			t.Errorf("%s comes before the line above it:\n%s", w.label, got)
		}
		at = i
		if n := strings.Count(got, "  "+w.label+":"); n != 1 {
			t.Errorf("%d %s lines, want 1", n, w.label)
		}
	}
	if !strings.Contains(got, "its own idle timeout is idle_session_timeout 60s") {
		t.Errorf("the database's own idle timeout is not said:\n%s", got)
	}
	if !strings.Contains(got, "closed by proxy:") {
		t.Errorf("the proxy verdict is not said:\n%s", got)
	}
}

// padLabel is a summary row's label as writeSummary pads it.
func padLabel(label string) string {
	s := label + ":"
	for len(s) < 15 {
		s += " "
	}
	return s
}
