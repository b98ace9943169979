package service

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/configs"
	"github.com/idleprobe/idleprobe/internal/fixtures"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// BenchmarkScrape1000Paths: one Prometheus scrape of /metrics (gzip, as
// Prometheus asks) of a service with 1,000 paths, each with a published
// result, trial counts of every outcome, and a measurement running on
// every other path. Run it with
//
//	go test ./service -run '^$' -bench Scrape1000Paths -benchtime 20x
func BenchmarkScrape1000Paths(b *testing.B) {
	dir := b.TempDir()
	cfg, _, err := configs.Load(soakPathsFile(b, dir, 1000))
	if err != nil {
		b.Fatal(err)
	}
	s := New(cfg, Options{ConfigFile: "bench", StatePath: filepath.Join(dir, "state.json")})
	outcomes := []plan.Outcome{plan.OK, plan.Reset, plan.ClosedIdle, plan.ClosedOnReuse, plan.Dropped, plan.Slow, plan.Error}
	for i, p := range cfg.Paths {
		r := fixtures.Rich()
		r.Target = p.Target
		s.collector.Set(pathInfo(p), r)
		for j, o := range outcomes {
			for range j + 1 {
				s.collector.ObserveTrial(p.Name, o)
			}
		}
		s.collector.SetInProgress(p.Name, i%2 == 0)
	}
	h := s.Handler()
	size := 0
	for b.Loop() {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.Header.Set("Accept-Encoding", "gzip")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("GET /metrics: %d", rec.Code)
		}
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size), "gzip-bytes/scrape")
}

// TestScrape1000PathsComplete: the scrape the benchmark times holds every
// path's bracket (so the benchmark times the real page).
func TestScrape1000PathsComplete(t *testing.T) {
	dir := t.TempDir()
	cfg, _, err := configs.Load(soakPathsFile(t, dir, 1000))
	if err != nil {
		t.Fatal(err)
	}
	s := New(cfg, Options{ConfigFile: "bench", StatePath: filepath.Join(dir, "state.json")})
	for _, p := range cfg.Paths {
		r := fixtures.Rich()
		r.Target = p.Target
		s.collector.Set(pathInfo(p), r)
	}
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	start := time.Now()
	s.Handler().ServeHTTP(rec, req)
	t.Logf("one scrape of 1,000 paths: %s, %d bytes gzipped", time.Since(start), rec.Body.Len())
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	page, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(string(page), `idleprobe_idle_limit_seconds{bound="upper"`); got != 1000 {
		t.Errorf("%d upper bounds on the page, want 1000", got)
	}
}
