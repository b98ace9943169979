package exporters

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/idleprobe/idleprobe/internal/fixtures"
)

// The shared result fixtures (internal/fixtures).
var (
	t0                 = fixtures.T0
	foundResult        = fixtures.Found
	lifetimeResult     = fixtures.Lifetime
	richResult         = fixtures.Rich
	inconclusiveResult = fixtures.Inconclusive
	noLimitResult      = fixtures.NoLimit
)

// promtool returns the promtool binary, failing the test under CI=true when
// it is missing and skipping it otherwise.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("promtool is required in CI (Debian package prometheus): %v", err)
		}
		t.Skipf("promtool not installed (Debian package prometheus): %v", err)
	}
	return p
}

// gatherText returns the text exposition of everything g gathers.
func gatherText(t *testing.T, g prometheus.Gatherer) string {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var b strings.Builder
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatalf("encode %s: %v", mf.GetName(), err)
		}
	}
	return b.String()
}
