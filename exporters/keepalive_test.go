package exporters

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// withKeepalive returns foundResult with a keepalive check asked for at
// idle 30s; checked says whether it gave an answer.
func withKeepalive(checked, rescues bool) plan.Result {
	r := foundResult()
	r.KeepaliveIdle, r.KeepaliveInterval, r.KeepaliveCount = 30*time.Second, 30*time.Second, 9
	r.KeepaliveChecked, r.KeepaliveRescues = checked, rescues
	if checked {
		r.KeepaliveHeld = 120 * time.Second
	}
	return r
}

const keepMetric = "idleprobe_keepalive_rescues"

// keepValue returns the exported keepalive answer of path api ("" when absent).
func keepValue(t *testing.T, c *Collector) string {
	t.Helper()
	for _, line := range strings.Split(gatherText(t, registry(t, c)), "\n") {
		if strings.HasPrefix(line, keepMetric+"{") && strings.Contains(line, `path="api"`) {
			return line[strings.LastIndexByte(line, ' ')+1:]
		}
	}
	return ""
}

// The answer travels with the result: each published result sets, keeps or
// removes idleprobe_keepalive_rescues.
func TestCollectorKeepaliveFromResult(t *testing.T) {
	notAsked := foundResult()
	noLimit := withKeepalive(false, false)
	noLimit.Found, noLimit.Upper = false, 0
	steps := []struct {
		name string
		r    plan.Result
		want string
	}{
		{"rescued", withKeepalive(true, true), "1"},
		{"not rescued", withKeepalive(true, false), "0"},
		{"asked but not answered keeps the last answer", withKeepalive(false, false), "0"},
		{"rescued again", withKeepalive(true, true), "1"},
		{"no limit: nothing to rescue", noLimit, ""},
		{"not rescued again", withKeepalive(true, false), "0"},
		{"no longer asked for", notAsked, ""},
	}
	c := NewCollector()
	c.SetPath(apiPath)
	for _, st := range steps {
		c.Record("api", st.r, nil)
		if got := keepValue(t, c); got != st.want {
			t.Fatalf("after %q: %s = %q, want %q", st.name, keepMetric, got, st.want)
		}
	}
}

// The one-shot outputs (measure --output prom) export the answer too.
func TestWriteTextKeepalive(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    plan.Result
		want string
	}{
		{"rescued", withKeepalive(true, true), keepMetric + `{path="api",team="web"} 1`},
		{"not rescued", withKeepalive(true, false), keepMetric + `{path="api",team="web"} 0`},
		{"not checked", withKeepalive(false, false), ""},
		{"not asked", foundResult(), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteText(&buf, apiPath, tc.r); err != nil {
				t.Fatal(err)
			}
			got := buf.String()
			if tc.want == "" && strings.Contains(got, keepMetric) {
				t.Errorf("%s exported without an answer:\n%s", keepMetric, got)
			}
			if tc.want != "" && !strings.Contains(got, tc.want+"\n") {
				t.Errorf("output lacks %q:\n%s", tc.want, got)
			}
		})
	}
}

// Without promtool: the series that IdleprobeKeepaliveNotRescuing reads are
// all in WriteText's output for a path that keepalive does not rescue, and
// its condition holds on their values (promtool's unit tests cover the rule
// itself; this covers the exporter feeding it).
func TestKeepaliveAlertInputsFromWriteText(t *testing.T) {
	rules := readFile(t, rulesFile)
	i := strings.Index(rules, "alert: IdleprobeKeepaliveNotRescuing")
	if i < 0 {
		t.Fatal("IdleprobeKeepaliveNotRescuing is not in the rules file")
	}
	expr := rules[i:]
	expr = expr[strings.Index(expr, "expr:"):strings.Index(expr, "labels:")]
	const (
		wantRescues = "idleprobe_keepalive_rescues == 0"
		wantMargin  = "unless on(path) (idleprobe_client_idle_margin_seconds > 0)"
	)
	if !strings.Contains(expr, wantRescues) || !strings.Contains(expr, wantMargin) {
		t.Fatalf("the rule's expression changed; update this test to evaluate it:\n%s", expr)
	}
	names := regexp.MustCompile(`idleprobe_\w+`).FindAllString(expr, -1)

	var buf bytes.Buffer
	if err := WriteText(&buf, apiPath, withKeepalive(true, false)); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatalf("parse WriteText output: %v", err)
	}
	value := func(name string) float64 {
		t.Helper()
		f, ok := fams[name]
		if !ok || len(f.GetMetric()) != 1 {
			t.Fatalf("WriteText output has no single %s series", name)
		}
		return f.GetMetric()[0].GetGauge().GetValue()
	}
	for _, n := range names {
		value(n)
	}
	if rescues, margin := value(keepMetric), value("idleprobe_client_idle_margin_seconds"); !(rescues == 0 && !(margin > 0)) {
		t.Errorf("rescues %g, margin %g: the alert would not fire for a path keepalive does not rescue and whose client idles past the limit", rescues, margin)
	}
}
