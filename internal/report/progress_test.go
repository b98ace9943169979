package report

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

func TestProgressLine(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		s    progressSnap
		now  time.Time
		want string
	}{
		{
			name: "nothing yet",
			s:    progressSnap{at: start, started: start, live: 1, remaining: time.Hour + 30*time.Second},
			now:  start.Add(300 * time.Millisecond),
			want: "0.3s elapsed | no trial done yet; ends by 1h 1m if none | 1 conn open | 0 trials",
		},
		{
			// The case of the issue: a run that will end at its first
			// failure must not count down to --max.
			name: "no failure yet",
			s:    progressSnap{at: start.Add(2900 * time.Millisecond), started: start, lower: 2900 * time.Millisecond, live: 12, trials: 9, remaining: time.Hour - 2900*time.Millisecond},
			now:  start.Add(3 * time.Second),
			want: "3.0s elapsed | no failure yet up to 2.90s; ends by 1h if none | 12 conns open | 9 trials",
		},
		{
			name: "bracketed",
			s:    progressSnap{at: start.Add(12 * time.Second), started: start, lower: 12 * time.Second, upper: 12300 * time.Millisecond, found: true, live: 5, trials: 1, remaining: 3 * time.Second},
			now:  start.Add(13 * time.Second),
			want: "13.0s elapsed | limit in (12.00s, 12.30s] | about 2s left | 5 conns open | 1 trial",
		},
		{
			name: "estimate used up",
			s:    progressSnap{at: start, started: start, lower: 2 * time.Second, upper: 3 * time.Second, found: true, live: 2, trials: 3, remaining: time.Second},
			now:  start.Add(90 * time.Second),
			want: "1m 30s elapsed | limit in (2.0s, 3.0s] | finishing | 2 conns open | 3 trials",
		},
		{
			name: "connections not known yet",
			s:    progressSnap{at: start, started: start, live: -1},
			now:  start,
			want: "0.0s elapsed | no trial done yet | 0 trials",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := progressLine(tc.s, tc.now, 0); got != tc.want {
				t.Errorf("progressLine =\n  %q\nwant\n  %q", got, tc.want)
			}
		})
	}
}

// TestProgressLineFits renders long lines for 64- and 80-column terminals:
// no line reaches the last column (it would wrap and leave a stale row),
// and what is dropped first is the least useful part.
func TestProgressLineFits(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	long := progressSnap{at: start.Add(59 * time.Second), started: start, lower: 59500 * time.Millisecond, live: 64, trials: 1234,
		remaining: 59*time.Minute + 30*time.Second}
	found := long
	found.found, found.upper, found.keepalive, found.remaining = true, 60500*time.Millisecond, true, 2*time.Hour
	for _, width := range []int{64, 80} {
		for _, s := range []progressSnap{long, found} {
			line := progressLine(s, start.Add(2*time.Hour), width)
			if n := len([]rune(line)); n >= width {
				t.Errorf("width %d: line of %d columns: %q", width, n, line)
			}
			if !strings.HasPrefix(line, "2h ") {
				t.Errorf("width %d: the elapsed time is not first: %q", width, line)
			}
		}
	}
	// At 80 columns the estimate stays and the trial count goes first.
	if got := progressLine(long, start.Add(time.Minute), 80); !strings.Contains(got, "ends by 1h if none") || strings.Contains(got, "trials") {
		t.Errorf("at 80 columns: %q", got)
	}
	// At 64 the connections go too; the estimate stays.
	if got := progressLine(long, start.Add(time.Minute), 64); strings.Contains(got, "conns") || !strings.Contains(got, "ends by 1h if none") {
		t.Errorf("at 64 columns: %q (%d)", got, len(got))
	}
	// Narrower, the word "elapsed" goes; narrower still, the line is cut
	// one short of the width.
	if got := progressLine(long, start.Add(10*time.Minute), 60); got != "10m | no failure yet up to 59.5s; ends by 1h if none" {
		t.Errorf("at 60 columns: %q (%d)", got, len(got))
	}
	if got := progressLine(long, start.Add(time.Minute), 40); len(got) != 39 {
		t.Errorf("at 40 columns: %q (%d)", got, len(got))
	}
}

// TestDisplayRedraws runs the live display against a 64-column terminal
// (in a synctest bubble: the redraw ticker runs on the fake clock): every
// frame returns to the line's start, fits, and clears the rest of the
// line; the connection count comes from the counter before any snapshot;
// the display clears its line when stopped.
func TestDisplayRedraws(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var b outBuf
		var open atomic.Int64
		open.Store(7)
		start := time.Now()
		d := startDisplay(&b, start, func() int { return 64 }, func() int { return int(open.Load()) })
		time.Sleep(300 * time.Millisecond)
		synctest.Wait()
		if !strings.Contains(b.String(), "7 conns open") {
			t.Errorf("the first frames do not show the connections open: %q", b.String())
		}
		d.update(prober.Progress{Now: time.Now(), Started: start, Live: 3, Remaining: time.Hour,
			Partial: prober.Result{Lower: 2 * time.Second, Trials: make([]plan.Trial, 5)}})
		time.Sleep(time.Second)
		synctest.Wait()
		d.stop()
		out := b.String()
		if !strings.HasSuffix(out, "\r\x1b[K") {
			t.Errorf("display did not clear its line when stopped: %q", out)
		}
		if strings.Contains(out, "\n") {
			t.Errorf("display wrote a newline: %q", out)
		}
		frames := strings.Split(strings.TrimSuffix(out, "\r\x1b[K"), "\r")[1:]
		if len(frames) < 4 {
			t.Fatalf("%d frames in 1.3 s, want at least 4: %q", len(frames), out)
		}
		for _, f := range frames {
			line, ok := strings.CutSuffix(f, "\x1b[K")
			if !ok || len([]rune(line)) >= 64 {
				t.Errorf("frame %q does not fit 64 columns or does not clear the line", f)
			}
		}
		if last := frames[len(frames)-1]; !strings.Contains(last, "no failure yet up to 2.00s") {
			t.Errorf("last frame %q lacks the snapshot", last)
		}
	})
}

// TestConnCounter counts connections through a limiter that refuses.
func TestConnCounter(t *testing.T) {
	c := &connCounter{}
	ctx := context.Background()
	for range 3 {
		if err := c.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	c.Release()
	if c.open() != 2 {
		t.Errorf("open = %d, want 2", c.open())
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	refusing := &connCounter{inner: refuse{}}
	if err := refusing.Acquire(cancelled); err == nil || refusing.open() != 0 {
		t.Errorf("a refused connection counts: err %v, open %d", err, refusing.open())
	}
}

type refuse struct{}

func (refuse) Acquire(ctx context.Context) error { return context.Canceled }
func (refuse) Release()                          {}
