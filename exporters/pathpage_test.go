package exporters

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/chart"
	"github.com/idleprobe/idleprobe/internal/fixtures"
)

func TestPathPage(t *testing.T) {
	c := NewCollector()
	evil := `<script>alert("x")</script>/..`
	laddered := fixtures.Laddered()
	c.Set(PathInfo{Name: "api", Target: "http://probe:s3cret@192.0.2.10:30080/healthz", ClientIdleTimeout: 5 * time.Second}, laddered)
	c.Set(PathInfo{Name: evil, Target: "http://192.0.2.1/?q=<b>"}, foundResult())
	c.SetPath(PathInfo{Name: "fresh", Target: "tcp://127.0.0.1:7"})
	history := map[string][]chart.Point{
		"api": {
			{At: t0.Add(-6 * time.Hour), Lower: 2900 * time.Millisecond, Upper: 3100 * time.Millisecond, Found: true},
			{At: laddered.Finished, Lower: laddered.Lower, Upper: laddered.Upper, Found: true},
		},
	}
	h := LandingPage(c, LandingConfig{Version: "1.2.3", History: func(name string) []chart.Point { return history[name] }})

	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}

	t.Run("chart and history", func(t *testing.T) {
		code, body := get("/path/api")
		if code != http.StatusOK {
			t.Fatalf("GET /path/api = %d", code)
		}
		for _, want := range []string{
			`<h1>api</h1>`,
			`<code>http://probe:xxxxx@192.0.2.10:30080/healthz</code>`,
			`data-chart="trials"`, `class="bracket"`, `class="client-idle"`,
			`data-chart="history"`, `class="history-band"`,
			"Idle limit: reset by a hop (RST) after 3.00-3.10 s idle",
			`<a href="../">`, "idleprobe 1.2.3",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		if n := strings.Count(body, `class="trial outcome-`); n != len(laddered.Trials) {
			t.Errorf("%d trial dots, want %d", n, len(laddered.Trials))
		}
		if strings.Contains(body, "s3cret") || strings.Contains(body, "<script") {
			t.Errorf("page leaks the password or has a script")
		}
	})
	t.Run("hostile name", func(t *testing.T) {
		code, body := get("/" + pathURL(evil))
		if code != http.StatusOK {
			t.Fatalf("GET %s = %d", pathURL(evil), code)
		}
		if strings.Contains(body, "<script") || strings.Contains(body, "<b>") {
			t.Errorf("hostile name or target not escaped:\n%s", body)
		}
		if !strings.Contains(body, "<h1>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;/..</h1>") {
			t.Errorf("the escaped name is missing:\n%s", body)
		}
		// No History for it: an empty history chart says so.
		if !strings.Contains(body, "no published result yet") {
			t.Errorf("the empty history is not said")
		}
	})
	t.Run("not measured", func(t *testing.T) {
		code, body := get("/path/fresh")
		if code != http.StatusOK || !strings.Contains(body, "Not measured yet.") || strings.Contains(body, `data-chart="trials"`) {
			t.Errorf("GET /path/fresh = %d:\n%s", code, body)
		}
	})
	for _, p := range []string{"/path/nope", "/path/", "/path/api/more", "/path/" + url.PathEscape("api ")} {
		if code, _ := get(p); code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, code)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/path/api", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /path/api = %d, want 405", rec.Code)
	}
}
