package exporters

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/idleprobe/idleprobe/prober"
)

// proxiedPath is a path through a SOCKS5 proxy whose configured idle
// timeout is 60 s (the limit of foundResult).
func proxiedPath() PathInfo {
	return PathInfo{Name: "via-proxy", Target: "tcp://198.51.100.7:6379",
		Proxy: &prober.Proxy{URL: &url.URL{Scheme: "socks5", Host: "192.0.2.9:1080"}, IdleTimeout: time.Minute}}
}

// TestProxyInfo: a path through a proxy exports the proxy and, once a
// result is in, whether the proxy is the hop that closed; a direct path
// exports nothing of the kind.
func TestProxyInfo(t *testing.T) {
	c := NewCollector()
	c.SetPath(redisPath)
	c.SetPath(proxiedPath())
	const head = `# HELP idleprobe_path_proxy_info Forward proxy the path goes through (proxy: its URL), and whether the latest completed measurement shows it is the hop that ended idle connections (closed_by: proxy, other, unknown; empty before a result or when no limit was found); absent for a direct path; always 1.
# TYPE idleprobe_path_proxy_info gauge
`
	for _, tc := range []struct {
		name, want string
	}{
		{"before a result", `idleprobe_path_proxy_info{closed_by="",env="",path="via-proxy",proxy="socks5://192.0.2.9:1080"} 1`},
		{"limit at the proxy's timeout", `idleprobe_path_proxy_info{closed_by="proxy",env="",path="via-proxy",proxy="socks5://192.0.2.9:1080"} 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.HasPrefix(tc.name, "limit") {
				c.Set(proxiedPath(), foundResult())
			}
			if err := testutil.CollectAndCompare(c, strings.NewReader(head+tc.want+"\n"), "idleprobe_path_proxy_info"); err != nil {
				t.Error(err)
			}
		})
	}
}
