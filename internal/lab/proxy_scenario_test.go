package lab

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/realserver"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// Scenario "proxy": a forward proxy behind the reset middlebox. Squid (HTTP
// CONNECT) and Dante (SOCKS5) run in the server namespace behind the VIP,
// each with an idle timeout of its own (60 s) far above the middlebox's
// T = 3 s; the client measures a TCP echo behind them with --proxy
// http://VIP:3128 and socks5://VIP:1080. The connection idleprobe watches is
// the one to the proxy, through the middlebox: the bracket holds T, the
// mode is reset, and the result says the path went through the proxy and
// that it is not the proxy that closed (closed_by other, the reset came on
// the connection to it).
func TestScenarioProxyBehindReset(t *testing.T) {
	Require(t)
	t.Parallel()
	const T = 3 * time.Second
	const proxyIdle = 60 * time.Second
	squid := realserver.LookProgram(t, "squid", "apt-get install -y squid")
	danted := realserver.LookProgram(t, "danted", "apt-get install -y dante-server")
	l := New(t, Options{Timeout: T, Mode: Reset})
	l.StartEcho(t, l.Server, 7007)

	client := l.ClientAddr.String() + "/32"
	squidConf := filepath.Join(l.Dir, "squid.conf")
	squidAddr := net.JoinHostPort(l.ServerAddr.String(), "3128")
	writeFile(t, squidConf, realserver.SquidConf(squidAddr, client, proxyIdle))
	// The service name keeps its shared memory apart from other labs'.
	p := l.Start(t, l.Server, "squid", realserver.SquidArgv(squid, squidConf, fmt.Sprintf("idleprobelab%d", l.slot))...)
	if err := waitListen(l.Server, squidAddr, startTimeout, p); err != nil {
		t.Fatal(err)
	}
	danteDir := filepath.Join(l.Dir, "dante")
	if err := os.MkdirAll(danteDir, 0o755); err != nil {
		t.Fatal(err)
	}
	danteConf := filepath.Join(danteDir, "danted.conf")
	writeFile(t, danteConf, realserver.DanteConf(l.ServerAddr.String(), 1080, "127.0.0.1", client, "none", proxyIdle))
	p = l.Start(t, l.Server, "danted", realserver.DanteArgv(danted, danteConf, danteDir)...)
	if err := waitListen(l.Server, net.JoinHostPort(l.ServerAddr.String(), "1080"), startTimeout, p); err != nil {
		t.Fatal(err)
	}

	for _, proxy := range []string{
		fmt.Sprintf("http://%s:3128", l.VIP),
		fmt.Sprintf("socks5://%s:1080", l.VIP),
	} {
		t.Run(strings.SplitN(proxy, ":", 2)[0], func(t *testing.T) {
			t.Parallel() // one lab, two proxies
			out := l.MeasureText(t, measureArgs(10*time.Second, []string{"--output", "json",
				"--proxy", proxy, "--proxy-idle-timeout", proxyIdle.String(), "--send", "x", "--expect", "x"},
				"tcp://127.0.0.1:7007")...)
			var r plan.Result
			var via struct {
				Proxy *struct {
					URL      string  `json:"url"`
					ClosedBy *string `json:"closed_by"`
					Detail   string  `json:"detail"`
				} `json:"proxy"`
			}
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatalf("no result: %v\n%s", err, out)
			}
			if err := json.Unmarshal([]byte(out), &via); err != nil || via.Proxy == nil {
				t.Fatalf("no proxy in the result (%v):\n%s", err, out)
			}
			t.Logf("%s: %s; proxy: %+v", proxy, Summary(r), *via.Proxy)
			checkMiddleboxLimit(t, r, T, plan.Reset)
			if via.Proxy.URL != proxy || via.Proxy.ClosedBy == nil || *via.Proxy.ClosedBy != "other" ||
				!strings.Contains(via.Proxy.Detail, "a hop between here and the proxy") {
				t.Errorf("proxy %+v, want %s, closed by other, the reset on the way to the proxy", *via.Proxy, proxy)
			}
		})
	}
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
