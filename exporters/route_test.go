package exporters

import (
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/advice"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// routeResult is a measured result from the server side, hinted, with a
// verdict on who ended the connections (foundResult has one).
func routeResult() plan.Result {
	r := foundResult()
	r.Direction = prober.DirectionServer
	r.Hint = plan.HintInfo{From: time.Minute, Held: true}
	return r
}

// TestPagesShowRoutes: the landing page and the page of a path show how
// each path reaches its target (direction when the server sends, proxy
// without credentials, group, family) and the result's direction, hint,
// proxy verdict and who ended the connections, in the words of package
// advice, every value escaped.
func TestPagesShowRoutes(t *testing.T) {
	hostileProxy := &prober.Proxy{
		URL:         &url.URL{Scheme: "http", User: url.UserPassword("probe", "pr0xy-s3cret"), Host: "<b>proxy</b>:3128"},
		IdleTimeout: time.Minute,
	}
	evilGroup := `<img src=x onerror=alert(1)>`
	c := NewCollector()
	via := PathInfo{Name: "via-proxy", Target: "http://192.0.2.10:8080/healthz", Proxy: hostileProxy,
		Group: evilGroup, Family: "6", Direction: prober.DirectionClient}
	c.Set(via, foundResult())
	push := PathInfo{Name: `push"<i>`, Target: "tcp://192.0.2.40:9092", Direction: prober.DirectionServer}
	c.Set(push, routeResult())
	// Not measured yet: the route comes from the configuration alone.
	c.SetPath(PathInfo{Name: "fresh-udp", Target: "udp://192.0.2.42:9090", Direction: prober.DirectionServer, Family: "4"})
	// A path whose info does not say its direction: the result's is shown.
	c.Set(PathInfo{Name: "restored", Target: "tcp://192.0.2.41:9092"}, routeResult())
	h := LandingPage(c, LandingConfig{Now: func() time.Time { return t0.Add(time.Hour) }})
	get := func(t *testing.T, path string) string {
		t.Helper()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s = %d", path, rec.Code)
		}
		return rec.Body.String()
	}
	esc := html.EscapeString
	proxyShown := hostileProxy.String()
	verdict := advice.Proxy(prober.JudgeProxy(foundResult(), hostileProxy))
	server, hint, ended := advice.Direction(routeResult()), advice.Hint(routeResult()), advice.EndedBy(routeResult())
	if server == "" || hint == "" || ended == "" || verdict == "" || !strings.Contains(verdict, "<b>") && !strings.Contains(verdict, "%3Cb%3E") {
		t.Fatalf("fixtures do not exercise every line: %q %q %q %q", server, hint, ended, verdict)
	}
	noRaw := func(t *testing.T, body string) {
		t.Helper()
		for _, bad := range []string{"<img", "<b>proxy", "<i>", "pr0xy-s3cret", "probe:pr0xy"} {
			if strings.Contains(body, bad) {
				i := strings.Index(body, bad)
				t.Errorf("page contains unescaped or secret %q: ...%s...", bad, body[max(0, i-200):min(len(body), i+100)])
			}
		}
	}

	t.Run("landing", func(t *testing.T) {
		body := get(t, "/")
		for _, want := range []string{
			"<th>Route</th>",
			"<td>Proxy: " + esc(proxyShown) + "<br>Group: " + esc(evilGroup) + "<br>Family: IPv6</td>",
			"<td>Direction: server</td>",
			"<td>Direction: server<br>Family: IPv4</td>",
			// The details say the same as measure's summary.
			"Direction: " + esc(server) + "<br>Hint: " + esc(hint) + "<br>Idle limit: ",
			"Proxy: " + esc(verdict) + "<br>Ended by: " + esc(ended),
		} {
			if !strings.Contains(body, want) {
				t.Errorf("landing page lacks %q", want)
			}
		}
		if n := strings.Count(body, "<td>Direction: server</td>"); n != 2 {
			t.Errorf("%d paths show the server direction alone, want 2 (push and restored)", n)
		}
		noRaw(t, body)
	})

	t.Run("path page", func(t *testing.T) {
		body := get(t, "/path/via-proxy")
		for _, want := range []string{
			`<ul id="route">`,
			"<li>Proxy: " + esc(proxyShown) + "</li>",
			"<li>Group: " + esc(evilGroup) + "</li>",
			"<li>Family: IPv6</li>",
			"<li>Proxy: " + esc(verdict) + "</li>",
			"<li>Ended by: " + esc(ended) + "</li>",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("page of via-proxy lacks %q", want)
			}
		}
		if strings.Contains(body, "Direction:") {
			t.Error("page of a client-side path shows a direction")
		}
		noRaw(t, body)

		body = get(t, "/path/"+url.PathEscape(push.Name))
		for _, want := range []string{
			"<li>Direction: server</li>",
			"<li>Direction: " + esc(server) + "</li>",
			"<li>Hint: " + esc(hint) + "</li>",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("page of push lacks %q", want)
			}
		}
		noRaw(t, body)
	})

	t.Run("no route column when unused", func(t *testing.T) {
		c := NewCollector()
		c.Set(PathInfo{Name: "api", Target: "http://192.0.2.10:8080/", Direction: prober.DirectionClient}, foundResult())
		rec := httptest.NewRecorder()
		LandingPage(c, LandingConfig{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if strings.Contains(rec.Body.String(), "Route") {
			t.Error("the landing page has a Route column though no path uses one")
		}
		rec = httptest.NewRecorder()
		LandingPage(c, LandingConfig{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/path/api", nil))
		if strings.Contains(rec.Body.String(), `id="route"`) {
			t.Error("the page of a default path has a route list")
		}
	})
}
