package prober

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/testdns"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// TestFamily: a name with an IPv4 and an IPv6 address is dialed over the
// family asked for (the server on 127.0.0.1 or the one on ::1 accepts it),
// for tcp and http; a name or literal without an address of the family is
// unusable, in one line naming the host and the family.
func TestFamily(t *testing.T) {
	noLeaks(t)
	dns := testdns.Start(t, map[string][]netip.Addr{
		"dual.test":   {netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")},
		"v4only.test": {netip.MustParseAddr("127.0.0.1")},
	})
	l4, l6 := testdns.ListenBoth(t)
	accepted := make(chan string, 16)
	handle := func(t *testing.T, c net.Conn, done <-chan struct{}) {
		accepted <- c.LocalAddr().(*net.TCPAddr).IP.String()
		br := bufio.NewReader(c)
		if b, err := br.Peek(1); err != nil || b[0] != 'G' {
			_, _ = io.Copy(io.Discard, br) // tcp: the reuse is ACKed
			return
		}
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if _, err := io.WriteString(c, okResponse); err != nil || req.Close {
				return
			}
		}
	}
	serveOn(t, l4, handle)
	serveOn(t, l6, handle)
	_, port, _ := net.SplitHostPort(l4.Addr().String())

	for _, tc := range []struct {
		scheme, family, want string
	}{
		{"tcp", FamilyIPv4, "127.0.0.1"},
		{"tcp", FamilyIPv6, "::1"},
		{"http", FamilyIPv4, "127.0.0.1"},
		{"http", FamilyIPv6, "::1"},
	} {
		t.Run(tc.scheme+tc.family, func(t *testing.T) {
			tr := transport(t, tc.scheme+"://dual.test:"+port+"/", TransportOptions{Timeout: 2 * time.Second, Family: tc.family, Resolver: dns.Resolver()})
			c := open(t, tr)
			select {
			case got := <-accepted:
				if got != tc.want {
					t.Errorf("family %s: the server on %s accepted, want %s", tc.family, got, tc.want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no server accepted")
			}
			if r := reuse(t, c); r.Outcome != plan.OK {
				t.Errorf("reuse over family %s: %s %s", tc.family, r.Outcome, r.Detail)
			}
		})
	}

	for _, tc := range []struct {
		url, family, want string
	}{
		{"tcp://v4only.test:" + port, FamilyIPv6, "v4only.test has no IPv6 address"},
		{"http://v4only.test:" + port + "/", FamilyIPv6, "v4only.test has no IPv6 address"},
		{"tcp://127.0.0.1:" + port, FamilyIPv6, "127.0.0.1 has no IPv6 address"},
		{"tcp://[::1]:" + port, FamilyIPv4, "::1 has no IPv4 address"},
		{"udp://[::1]:" + port, FamilyIPv4, "::1 has no IPv4 address"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			tr := transport(t, tc.url, TransportOptions{Timeout: 2 * time.Second, Family: tc.family, Resolver: dns.Resolver()})
			c, err := tr.Open(context.Background())
			if err == nil {
				c.Close()
				t.Fatal("Open succeeded")
			}
			if err.Error() != tc.want || !errors.Is(err, ErrUnusable) {
				t.Errorf("error %q (unusable: %v), want exactly %q", err, errors.Is(err, ErrUnusable), tc.want)
			}
		})
	}

	_, err := NewTransport(mustTarget(t, "tcp://dual.test:1"), TransportOptions{Family: "5"})
	if err == nil || !strings.Contains(err.Error(), `family "5"`) {
		t.Errorf("family 5: %v, want an error naming it", err)
	}
}

func mustTarget(t *testing.T, s string) Target {
	t.Helper()
	tg, err := ParseTarget(s)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}
