package advice

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/hop"
	"github.com/idleprobe/idleprobe/prober/plan"
)

func TestDirectionAndHint(t *testing.T) {
	measured := plan.Result{Status: plan.Measured, Complete: true}
	for _, c := range []struct {
		name          string
		r             plan.Result
		dir, hintWant string
	}{
		{"client, not hinted", plan.Result{Direction: prober.DirectionClient}, "", ""},
		{"unknown direction", plan.Result{}, "", ""},
		{"server", plan.Result{Direction: prober.DirectionServer}, "server: after the idle time the server sent, and the bytes had to arrive", ""},
		{"hint held", func() plan.Result {
			r := measured
			r.Hint = plan.HintInfo{From: 15 * time.Minute, Held: true}
			return r
		}(),
			"", "started from 15m (the previous answer): the limit has not moved"},
		{"hint moved", func() plan.Result { r := measured; r.Hint = plan.HintInfo{From: 12 * time.Minute}; return r }(),
			"", "started from 12m (the previous answer): the trials contradicted it; the search went on from what they showed"},
		{"hint unconfirmed", plan.Result{Status: plan.Inconclusive, Hint: plan.HintInfo{From: 90 * time.Second}},
			"", "started from 1m 30s (the previous answer): the trials did not confirm it"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Direction(c.r); got != c.dir {
				t.Errorf("Direction = %q, want %q", got, c.dir)
			}
			if got := Hint(c.r); got != c.hintWant {
				t.Errorf("Hint = %q, want %q", got, c.hintWant)
			}
			var labels []string
			for _, f := range Setup(c.r) {
				labels = append(labels, f.Label)
			}
			var want []string
			if c.dir != "" {
				want = append(want, LabelDirection)
			}
			if c.hintWant != "" {
				want = append(want, LabelHint)
			}
			if !slices.Equal(labels, want) {
				t.Errorf("Setup labels = %q, want %q", labels, want)
			}
		})
	}
}

func TestProxyLine(t *testing.T) {
	if got := Proxy(nil); got != "" {
		t.Errorf("Proxy(nil) = %q", got)
	}
	if got := Proxy(&prober.ProxyVerdict{Detail: "the path goes through proxy http://192.0.2.3:3128"}); got != "the path goes through proxy http://192.0.2.3:3128" {
		t.Errorf("Proxy(no limit) = %q", got)
	}
	if got := Proxy(&prober.ProxyVerdict{ClosedBy: prober.ClosedByProxy, Detail: "it matches"}); got != "closed by proxy: it matches" {
		t.Errorf("Proxy(closed) = %q", got)
	}
}

// TestFindingsOrder: the findings come in the summary's order, each once,
// with the statements of the helpers they are made of.
func TestFindingsOrder(t *testing.T) {
	r := plan.Result{
		Target: "postgres://192.0.2.30:5432/app", Status: plan.Measured, Complete: true, Found: true,
		Lower: 59 * time.Second, Upper: 60 * time.Second, Mode: plan.ClosedIdle,
		Lifetime: plan.LifetimeLimit{Found: true, Lower: 9 * time.Minute, Upper: 10 * time.Minute, Mode: string(plan.Reset)},
		Server:   plan.Server{KeepAliveTimeout: time.Minute},
		EndedBy:  &plan.EndedBy{Verdict: hop.Verdict{By: hop.Server, Packet: "FIN", ServerHops: 1, EndTTL: 63}, Agree: 2, Judged: 2},
	}
	u, _ := url.Parse("http://192.0.2.3:3128")
	v := prober.JudgeProxy(r, &prober.Proxy{URL: u, IdleTimeout: time.Hour})
	fs := Findings(r, v)
	var labels []string
	for _, f := range fs {
		labels = append(labels, f.Label)
	}
	want := []string{"Idle limit", LabelLifetime, LabelServer, LabelProxy, LabelEndedBy}
	if !slices.Equal(labels, want) {
		t.Fatalf("labels = %q, want %q", labels, want)
	}
	texts := []string{Limit(r), Lifetime(r), strings.Join(Server(r), "; "), Proxy(v), EndedBy(r)}
	for i, f := range fs {
		if f.Text != texts[i] {
			t.Errorf("%s = %q, want %q", f.Label, f.Text, texts[i])
		}
	}
	if !strings.Contains(fs[2].Text, "its own idle timeout is idle_session_timeout 60s") {
		t.Errorf("a database's own idle timeout is not said: %q", fs[2].Text)
	}
	if got := Findings(plan.Result{Status: plan.Measured, Complete: true}, nil); len(got) != 1 {
		t.Errorf("findings of a bare result = %q, want the limit only", got)
	}
}

func TestRouteFacts(t *testing.T) {
	// A URL built by hand with credentials: they must never show.
	withCreds := &prober.Proxy{URL: &url.URL{Scheme: "socks5", User: url.UserPassword("u", "hunter2"), Host: "192.0.2.4:1080"}}
	for _, c := range []struct {
		name string
		rt   Route
		want []Fact
	}{
		{"default", Route{Direction: prober.DirectionClient}, nil},
		{"empty", Route{}, nil},
		{"every setting", Route{Direction: prober.DirectionServer, Proxy: withCreds, Group: "api", Family: "6"}, []Fact{
			{LabelDirection, "server"}, {LabelProxy, "socks5://192.0.2.4:1080"}, {LabelGroup, "api"}, {LabelFamily, "IPv6"}}},
		{"family 4", Route{Family: "4"}, []Fact{{LabelFamily, "IPv4"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := c.rt.Facts()
			if !slices.Equal(got, c.want) {
				t.Errorf("Facts = %q, want %q", got, c.want)
			}
			for _, f := range got {
				if strings.Contains(f.Text, "hunter2") || strings.Contains(f.Text, "u:") {
					t.Errorf("credentials shown: %q", f.Text)
				}
			}
		})
	}
}
