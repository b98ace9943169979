package realserver

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Prometheus is a Prometheus server started by StartPrometheus.
type Prometheus struct {
	*Proc
	// URL is its base URL (http://127.0.0.1:PORT).
	URL string
}

// PrometheusConfig says what a test's Prometheus scrapes and evaluates.
type PrometheusConfig struct {
	// Targets are the host:port addresses of job "idleprobe", scraped
	// every second.
	Targets []string
	// RuleFiles are rule files to load (evaluated every second).
	RuleFiles []string
}

// promClient never keeps connections, so that it leaves no goroutines
// behind.
var promClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

// StartPrometheus runs prometheus (Debian package prometheus) on a free
// loopback port with its own configuration and TSDB in a temporary
// directory, scraping cfg.Targets every second, and returns once it
// accepts connections (its API may still answer 503 for a moment: callers
// wait for what they need). It is stopped by PID when the test ends.
func StartPrometheus(t testing.TB, cfg PrometheusConfig) *Prometheus {
	t.Helper()
	bin := LookProgram(t, "prometheus", "apt-get install -y prometheus")
	dir := t.TempDir()
	var b strings.Builder
	b.WriteString("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n")
	if len(cfg.RuleFiles) > 0 {
		b.WriteString("rule_files:\n")
		for _, f := range cfg.RuleFiles {
			fmt.Fprintf(&b, "  - %q\n", f)
		}
	}
	b.WriteString("scrape_configs:\n  - job_name: idleprobe\n    static_configs:\n      - targets: [")
	for i, a := range cfg.Targets {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", a)
	}
	b.WriteString("]\n")
	cfgFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgFile, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &Prometheus{}
	var addr string
	p.Proc, addr = startOnFreePort(t, "prometheus", func(port int) (*Proc, error) {
		return start(t, Command{
			Name: "prometheus",
			Argv: []string{bin,
				"--config.file=" + cfgFile,
				"--storage.tsdb.path=" + filepath.Join(dir, "tsdb"),
				"--web.listen-address=127.0.0.1:" + strconv.Itoa(port),
				"--log.level=warn",
			},
			LogDir: dir,
			Dir:    dir,
		})
	})
	p.URL = "http://" + addr
	return p
}

// API GETs path (e.g. "/api/v1/alerts") from the Prometheus HTTP API and
// returns the status code and body; code 0 when nothing answered.
func (p *Prometheus) API(path string) (int, []byte) {
	resp, err := promClient.Get(p.URL + path)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// QueryResult is the answer to an instant query.
type QueryResult struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string            `json:"resultType"`
		Result     []json.RawMessage `json:"result"`
	} `json:"data"`
}

// Query runs the instant query expr now. ok is false while Prometheus is
// not ready to answer (no answer, or a 503); a query Prometheus rejects
// (a parse error) comes back with ok true, Status "error" and the Error.
func (p *Prometheus) Query(expr string) (r QueryResult, ok bool) {
	code, body := p.API("/api/v1/query?query=" + url.QueryEscape(expr))
	if code == 0 || code == http.StatusServiceUnavailable {
		return r, false
	}
	if err := json.Unmarshal(body, &r); err != nil {
		r.Status, r.Error = "error", fmt.Sprintf("HTTP %d, not JSON: %v: %s", code, err, body)
	}
	return r, true
}
