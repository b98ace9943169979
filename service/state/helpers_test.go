package state

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/idleprobe/idleprobe/exporters"
	"github.com/idleprobe/idleprobe/internal/fixtures"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The shared result fixtures (internal/fixtures).
var (
	foundResult        = fixtures.Found
	richResult         = fixtures.Rich
	inconclusiveResult = fixtures.Inconclusive
	noLimitResult      = fixtures.NoLimit
)

var (
	apiPath = exporters.PathInfo{
		Name:              "api",
		Target:            "http://probe:s3cret@192.0.2.10:8080/healthz",
		ClientIdleTimeout: 75 * time.Second,
		Interval:          6 * time.Hour,
		Labels:            map[string]string{"team": "web"},
	}
	redisPath = exporters.PathInfo{Name: "redis", Target: "tcp://198.51.100.7:6379", Labels: map[string]string{"env": "prod"}}
	pgPath    = exporters.PathInfo{Name: "pg", Target: "tcp://192.0.2.30:5432"}
)
