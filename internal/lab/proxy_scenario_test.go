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

// Scenario "proxy": forward proxies and the reset middlebox (T = 3 s).
// Squid (HTTP CONNECT) and Dante (SOCKS5) run with an idle timeout of
// their own (60 s) far above T, in two places:
//
//   - behind the middlebox, in the server namespace (--proxy
//     http://VIP:3128, socks5://VIP:1080; the target is a TCP echo next
//     to them): the connection idleprobe watches, the one to the proxy,
//     crosses the middlebox. The bracket holds T and the mode is reset;
//     the result names the proxy, says it is not the one that closed, and
//     that the reset came between here and the proxy.
//   - in front of it, in the client namespace on 127.0.0.1 (the target is
//     the echo behind the VIP): the proxy's own connection to the target
//     crosses the middlebox and meets the reset on the reuse. The proxy
//     passes it on as a close of the tunnel: the bracket holds T and the
//     mode is closed_on_reuse, which the result reads as the proxy's
//     connection to the target failing.
func TestScenarioProxyAndReset(t *testing.T) {
	Require(t)
	t.Parallel()
	const T = 3 * time.Second
	const proxyIdle = 60 * time.Second
	l := New(t, Options{Timeout: T, Mode: Reset})
	l.StartEcho(t, l.Server, 7007)

	behind := l.startProxies(t, l.Server, l.ServerAddr.String(), l.ClientAddr.String()+"/32", proxyIdle)
	front := l.startProxies(t, l.Client, "127.0.0.1", "127.0.0.0/8", proxyIdle)
	for _, tc := range []struct {
		name, proxy, target string
		mode                plan.Outcome
		side                string
	}{
		{"squid behind", fmt.Sprintf("http://%s:%d", l.VIP, behind.squid), "tcp://127.0.0.1:7007", plan.Reset, "a hop between here and the proxy"},
		{"dante behind", fmt.Sprintf("socks5://%s:%d", l.VIP, behind.dante), "tcp://127.0.0.1:7007", plan.Reset, "a hop between here and the proxy"},
		{"squid in front", fmt.Sprintf("http://127.0.0.1:%d", front.squid), fmt.Sprintf("tcp://%s:7007", l.VIP), plan.ClosedOnReuse, "its own connection to the target had failed"},
		{"dante in front", fmt.Sprintf("socks5://127.0.0.1:%d", front.dante), fmt.Sprintf("tcp://%s:7007", l.VIP), plan.ClosedOnReuse, "its own connection to the target had failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // one lab, independent measurements
			out := l.MeasureText(t, measureArgs(10*time.Second, []string{"--output", "json",
				"--proxy", tc.proxy, "--proxy-idle-timeout", proxyIdle.String(), "--send", "x", "--expect", "x"},
				tc.target)...)
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
			t.Logf("%s: %s; proxy: %s", tc.proxy, Summary(r), via.Proxy.Detail)
			checkMiddleboxLimit(t, r, T, tc.mode)
			if via.Proxy.URL != tc.proxy || via.Proxy.ClosedBy == nil || *via.Proxy.ClosedBy != "other" ||
				!strings.Contains(via.Proxy.Detail, tc.side) {
				t.Errorf("proxy %+v, want %s, closed by other, %q", *via.Proxy, tc.proxy, tc.side)
			}
		})
	}
}

// proxyPorts are the ports of a Squid and a Dante started by startProxies.
type proxyPorts struct{ squid, dante int }

// startProxies runs Squid (port 3128) and Dante (1080) in namespace ns,
// listening on addr, open to clients from (a CIDR), each with idle timeout
// idle, connecting out from the namespace's loopback or routes.
func (l *Lab) startProxies(t *testing.T, ns, addr, from string, idle time.Duration) proxyPorts {
	t.Helper()
	squid := realserver.LookProgram(t, "squid", "apt-get install -y squid")
	danted := realserver.LookProgram(t, "danted", "apt-get install -y dante-server")
	dir := filepath.Join(l.Dir, fmt.Sprintf("proxies-%d", nextID()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ports := proxyPorts{squid: 3128, dante: 1080}
	squidAddr := net.JoinHostPort(addr, fmt.Sprint(ports.squid))
	squidConf := filepath.Join(dir, "squid.conf")
	writeFile(t, squidConf, realserver.SquidConf(squidAddr, from, idle))
	// The service name keeps its shared memory (/dev/shm) apart from any
	// other Squid's.
	p := l.Start(t, ns, "squid", realserver.SquidArgv(squid, squidConf, fmt.Sprintf("idleprobelab%dn%d", l.slot, nextID()))...)
	if err := waitListen(ns, squidAddr, startTimeout, p); err != nil {
		t.Fatal(err)
	}
	dial := func() (net.Conn, error) { return DialIn(ns, squidAddr, time.Second) }
	if err := realserver.SquidReady(dial, startTimeout); err != nil {
		t.Fatal(err)
	}
	// Dante connects out from its external address: the namespace's own
	// address toward the target.
	external := addr
	if ns == l.Client {
		external = l.ClientAddr.String()
	}
	danteConf := filepath.Join(dir, "danted.conf")
	writeFile(t, danteConf, realserver.DanteConf(addr, ports.dante, external, from, "none", idle))
	p = l.Start(t, ns, "danted", realserver.DanteArgv(danted, danteConf, dir)...)
	if err := waitListen(ns, net.JoinHostPort(addr, fmt.Sprint(ports.dante)), startTimeout, p); err != nil {
		t.Fatal(err)
	}
	return ports
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
