package state

import (
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/hop"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// TestStoreKeepsNewerFields: what the landing page shows of a result
// survives a restart: the direction, who ended the connections (the
// verdict and each trial's), the hint the search started from, and each
// trial's clock. Each field is compared on its own, not only through a
// second encoding (which would pass for a field the file never held).
func TestStoreKeepsNewerFields(t *testing.T) {
	want := foundResult()
	want.Direction = prober.DirectionServer
	want.Hint = plan.HintInfo{From: 61 * time.Second, Held: true}
	want.EndedBy = &plan.EndedBy{Verdict: hop.Verdict{By: hop.Hop, HopsBefore: 2, Packet: "RST", ServerHops: 3, ServerTTL: 61, EndTTL: 63},
		Agree: 4, Judged: 5}
	want.Trials[0].Clock = plan.Lifetime
	want.Trials[1].Clock = plan.Idle
	want.Trials[1].EndedBy = "hop 2 before the server"

	file := filepath.Join(t.TempDir(), "idleprobe.json")
	s, _, _ := openStore(t, file)
	if err := s.Save("push", pgPath, want); err != nil {
		t.Fatal(err)
	}
	_, stored, rec := openStore(t, file)
	e, ok := stored["push"]
	if !ok {
		t.Fatalf("reopened store lacks the path: %v", stored)
	}
	got := e.Result
	if got.Direction != want.Direction {
		t.Errorf("Direction = %q, want %q", got.Direction, want.Direction)
	}
	if got.Hint != want.Hint {
		t.Errorf("Hint = %+v, want %+v", got.Hint, want.Hint)
	}
	if got.EndedBy == nil || !reflect.DeepEqual(*got.EndedBy, *want.EndedBy) {
		t.Errorf("EndedBy = %+v, want %+v", got.EndedBy, want.EndedBy)
	}
	if len(got.Trials) != len(want.Trials) {
		t.Fatalf("%d trials, want %d", len(got.Trials), len(want.Trials))
	}
	for i := range want.Trials {
		if g, w := got.Trials[i], want.Trials[i]; g.Clock != w.Clock || g.EndedBy != w.EndedBy {
			t.Errorf("trial %d: clock %q, ended by %q; want %q, %q", i, g.Clock, g.EndedBy, w.Clock, w.EndedBy)
		}
	}
	sameResult(t, got, want)
	for _, r := range rec.records(t) {
		t.Errorf("unexpected log: %v", r)
	}

	// A client-side, unhinted result stays so: nothing is made up.
	plain := foundResult()
	plain.EndedBy = nil
	if err := s.Save("plain", pgPath, plain); err != nil {
		t.Fatal(err)
	}
	_, stored, _ = openStore(t, file)
	if g := stored["plain"].Result; g.Direction != "" || g.Hint != (plan.HintInfo{}) || g.EndedBy != nil {
		t.Errorf("plain result came back with direction %q, hint %+v, ended by %+v", g.Direction, g.Hint, g.EndedBy)
	}
}
