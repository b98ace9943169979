//go:build linux

package prober

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

// reuseJudged reuses c with a suspicion report in its context and returns
// the reply and the moments the judge reported.
func reuseJudged(t *testing.T, c Conn) (Reply, []time.Time) {
	t.Helper()
	var (
		mu  sync.Mutex
		sus []time.Time
	)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	r := c.Reuse(withSuspect(ctx, func(at time.Time) {
		mu.Lock()
		sus = append(sus, at)
		mu.Unlock()
	}))
	mu.Lock()
	defer mu.Unlock()
	return r, sus
}

// serveIn starts a server for scheme (tcp echo, HTTP/1.1, h2c, WebSocket echo) in ns on
// the hop's server address and returns its address.
func serveIn(t *testing.T, ns, scheme string) string {
	t.Helper()
	var (
		ln  net.Listener
		err error
	)
	inNetns(t, ns, func() { ln, err = net.Listen("tcp", hopServerIP+":0") })
	if err != nil {
		t.Fatalf("listen in %s: %v", ns, err)
	}
	switch scheme {
	case "h2c":
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		hs := &http.Server{Protocols: &p, ErrorLog: newDiscardLogger(),
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })}
		go hs.Serve(ln)
		t.Cleanup(func() { hs.Close() })
	case "ws":
		serveGoWS(t, ln, nil, 0)
	case "http":
		serveOn(t, ln, func(t *testing.T, c net.Conn, done <-chan struct{}) {
			httpAnswer(t, c, func(int, *http.Request) (string, bool) { return okResponse, true })
		})
	default:
		serveOn(t, ln, func(t *testing.T, c net.Conn, done <-chan struct{}) {
			buf := make([]byte, 64)
			for {
				n, err := c.Read(buf)
				if err != nil {
					return
				}
				c.Write(buf[:n])
			}
		})
	}
	return ln.Addr().String()
}

// The TCP_INFO judge on real sockets, through a hop of our own: a healthy
// path with a long round trip, and one that loses a reuse's segment once,
// are never suspected and answer OK; one that loses it twice in a row may
// be suspected but answers OK; a black hole is suspected two lost
// transmissions into the reuse and decided dropped at the third, with the
// evidence as its detail, well before the trial timeout.
func TestJudgeOnRealPaths(t *testing.T) {
	noLeaks(t)
	for _, tc := range []struct {
		scheme string
		rtt    time.Duration
	}{
		{"tcp", 2 * time.Millisecond},
		{"tcp", 300 * time.Millisecond},
		{"http", 300 * time.Millisecond},
		{"h2c", 300 * time.Millisecond},
		{"ws", 300 * time.Millisecond},
	} {
		t.Run(fmt.Sprintf("%s/rtt=%s", tc.scheme, tc.rtt), func(t *testing.T) {
			t.Parallel()
			h := newHop(t, tc.rtt, 0)
			addr := serveIn(t, h.server, tc.scheme)
			var (
				c   Conn
				err error
			)
			inNetns(t, h.client, func() {
				c, err = transport(t, tc.scheme+"://"+addr+"/", TransportOptions{}).Open(context.Background())
			})
			if err != nil {
				t.Fatalf("open through the hop: %v", err)
			}
			defer c.Close()

			r, sus := reuseJudged(t, c)
			if r.Outcome != plan.OK || len(sus) != 0 {
				t.Fatalf("healthy path: %s (%s), %d suspicions, want ok and none", r.Outcome, r.Detail, len(sus))
			}
			if took := r.End.Sub(r.Start); took < tc.rtt {
				t.Errorf("reuse took %s, less than the hop's round trip %s: not through the hop?", took, tc.rtt)
			}

			for lose := int64(1); lose <= 2; lose++ {
				h.lose.Store(lose)
				before := h.lost.Load()
				r, sus = reuseJudged(t, c)
				if r.Outcome != plan.OK || (lose == 1 && len(sus) != 0) || h.lost.Load()-before != lose {
					t.Fatalf("%d lost segments in a row: %s (%s), %d suspicions, %d lost; want ok, none suspected after one",
						lose, r.Outcome, r.Detail, len(sus), h.lost.Load()-before)
				}
				t.Logf("JUDGE %s rtt=%s: %d lost segments in a row cost %s, %d suspicions, ok", tc.scheme, tc.rtt, lose,
					r.End.Sub(r.Start).Round(time.Millisecond), len(sus))
			}

			h.lose.Store(-1)
			r, sus = reuseJudged(t, c)
			took := r.End.Sub(r.Start)
			if r.Outcome != plan.Dropped || len(sus) != 1 || !strings.HasPrefix(r.Detail, "no acknowledgement after") {
				t.Fatalf("black hole: %s (%s) after %s, %d suspicions; want dropped on the evidence and one", r.Outcome, r.Detail, took, len(sus))
			}
			after := sus[0].Sub(r.Start)
			// Two losses take two retransmission timeouts (each at least
			// 200 ms), three take four, and the verdict comes at least a
			// second before the timeout.
			if after < 400*time.Millisecond || took < plan.MinBlackHoleWait(tc.rtt) || took < after || took > DefaultTimeout-time.Second {
				t.Errorf("black hole suspected after %s, dropped after %s; want suspected after >= 400 ms, dropped after >= %s and before %s",
					after, took, plan.MinBlackHoleWait(tc.rtt), DefaultTimeout-time.Second)
			}
			t.Logf("JUDGE %s rtt=%s: black hole suspected after %s, dropped after %s: %s", tc.scheme, tc.rtt,
				after.Round(time.Millisecond), took.Round(time.Millisecond), r.Detail)
		})
	}
}

// nsTransport opens its connections from inside a network namespace.
type nsTransport struct {
	t  *testing.T
	ns string
	tr Transport
}

func (n nsTransport) Open(ctx context.Context) (c Conn, err error) {
	inNetns(n.t, n.ns, func() { c, err = n.tr.Open(ctx) })
	return c, err
}

// Measure through the hop, with a 300 ms round trip: a healthy path that
// loses every second data segment of each connection (a lost segment on
// every other reuse, never two in a row) has no limit and no dropped
// trial; a hop that black-holes flows idle for 2 s is found, dropped on
// the evidence well before the trial timeout, and the search acts on the
// judge's suspicion before the first dropped reuse is decided.
func TestMeasureThroughHop(t *testing.T) {
	noLeaks(t)
	const forget = 2 * time.Second
	for _, tc := range []struct {
		name      string
		forget    time.Duration
		loseEvery int64
	}{
		{"lossy-no-limit", 0, 2},
		{"black-hole", forget, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHop(t, 300*time.Millisecond, tc.forget)
			h.loseEvery.Store(tc.loseEvery)
			tg, err := ParseTarget("http://" + serveIn(t, h.server, "http") + "/")
			if err != nil {
				t.Fatal(err)
			}
			s := plan.Defaults()
			s.Min, s.Max = 250*time.Millisecond, 4*time.Second
			r, err := Measure(context.Background(), tg, Options{Plan: s,
				NewTransport: func(tg Target, o TransportOptions) (Transport, error) {
					tr, err := NewTransport(tg, o)
					return nsTransport{t: t, ns: h.client, tr: tr}, err
				}})
			if err != nil {
				t.Fatalf("measure: %v", err)
			}
			var first *plan.Trial
			for i, tr := range r.Trials {
				if tr.Outcome == plan.Dropped && (first == nil || tr.Start.Before(first.Start)) {
					first = &r.Trials[i]
				}
			}
			t.Logf("%s: found=%v (%s, %s] mode %s in %s, %d trials, %d segments lost",
				tc.name, r.Found, r.Lower, r.Upper, r.Mode, r.Duration().Round(time.Millisecond), len(r.Trials), h.lost.Load())
			if tc.forget == 0 {
				if r.Found || first != nil || h.lost.Load() == 0 {
					t.Errorf("healthy lossy path: found=%v, dropped trial %v, %d segments lost; want no limit, none dropped, some lost",
						r.Found, first, h.lost.Load())
				}
				return
			}
			if !r.Found || r.Mode != plan.Dropped || r.Upper < tc.forget-10*time.Millisecond || r.Lower > tc.forget+50*time.Millisecond {
				t.Fatalf("black hole after %s idle: found=%v (%s, %s] mode %s", tc.forget, r.Found, r.Lower, r.Upper, r.Mode)
			}
			for _, tr := range r.Trials {
				if took := tr.End.Sub(tr.Start); tr.Outcome == plan.Dropped && (took > DefaultTimeout-time.Second || !strings.HasPrefix(tr.Detail, "no acknowledgement after")) {
					t.Errorf("a reuse dropped after %s (%s), want on the evidence, a second or more before the timeout", took, tr.Detail)
				}
			}
			// Acting on the suspicion, the search set up its next trial
			// (a connection went idle for it) before the first dropped
			// reuse had timed out; without it, nothing happens until then.
			acted := false
			for _, tr := range r.Trials {
				acted = acted || (tr.IdleSince.After(first.Start) && tr.IdleSince.Before(first.End))
			}
			if !acted {
				t.Errorf("nothing was set up while the first dropped reuse (age %s, %s to %s) was pending: the suspicion was not acted on",
					first.Age, first.Start.Sub(r.Started), first.End.Sub(r.Started))
			}
			if bound := tc.forget*6/5 + 2*DefaultTimeout + 6*time.Second; r.Duration() > bound {
				t.Errorf("took %s, want <= %s", r.Duration(), bound)
			}
		})
	}
}
