package state

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/chart"
	"github.com/idleprobe/idleprobe/internal/fixtures"
)

// TestStoreHistory checks that every saved result adds a point to its
// path's history, that the history survives a reopen, is capped at
// HistoryLimit (oldest dropped), and starts anew when the target changes.
func TestStoreHistory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state.json")
	s, _, _ := openStore(t, file)
	var want []chart.Point
	for i := range HistoryLimit + 3 {
		r := foundResult()
		r.Finished = fixtures.T0.Add(time.Duration(i) * time.Hour)
		r.Lower, r.Upper = time.Duration(50+i%7)*time.Second, time.Duration(51+i%7)*time.Second
		if i%5 == 0 {
			r = noLimitResult()
			r.Finished = fixtures.T0.Add(time.Duration(i) * time.Hour)
		}
		if err := s.Save("api", apiPath, r); err != nil {
			t.Fatal(err)
		}
		want = append(want, chart.Point{At: r.Finished, Lower: r.Lower, Upper: r.Upper, Found: r.Found})
	}
	want = want[len(want)-HistoryLimit:]
	check := func(what string, got []chart.Point) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d points, want %d", what, len(got), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if !w.Found {
				w.Upper = 0
			}
			if !g.At.Equal(w.At) || g.Lower != w.Lower || g.Upper != w.Upper || g.Found != w.Found {
				t.Fatalf("%s: point %d = %+v, want %+v", what, i, g, w)
			}
		}
	}
	check("in memory", s.History("api"))
	if s.History("nope") != nil {
		t.Errorf("history of an unknown path is not nil")
	}

	s2, stored, _ := openStore(t, file)
	check("reopened", stored["api"].History)
	check("reopened store", s2.History("api"))
	if got := stored["api"].Result.Trials; len(got) != len(foundResult().Trials) {
		t.Errorf("stored result has %d trials, want %d", len(got), len(foundResult().Trials))
	}

	moved := apiPath
	moved.Target = "http://192.0.2.99:8080/"
	if err := s2.Save("api", moved, foundResult()); err != nil {
		t.Fatal(err)
	}
	if got := s2.History("api"); len(got) != 1 {
		t.Errorf("after a target change the history has %d points, want 1 (a new path)", len(got))
	}
}
