package shard

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// names returns n path names of the kinds configs use.
func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		switch i % 3 {
		case 0:
			out[i] = fmt.Sprintf("path-%d", i)
		case 1:
			out[i] = fmt.Sprintf("api.prod-%d.example:443", i)
		default:
			out[i] = fmt.Sprintf("node%02d/nodeport-%d", i%50, i)
		}
	}
	return out
}

// TestCoverageExactlyOnce: for many numbers of paths and shards, every path
// is owned by exactly one of the shards 0..TOTAL-1.
func TestCoverageExactlyOnce(t *testing.T) {
	for _, n := range []int{1, 2, 7, 100, 1000} {
		for total := 1; total <= 32; total++ {
			if n == 1000 && total > 12 && total != 32 {
				continue // each shard decides alone: n x total² weights
			}
			for _, name := range names(n) {
				owners := 0
				for i := range total {
					if (Shard{Index: i, Total: total}).Owns(name) {
						owners++
					}
				}
				if owners != 1 {
					t.Fatalf("%d paths, TOTAL %d: %q is owned by %d shards, want exactly 1", n, total, name, owners)
				}
			}
		}
	}
}

// TestZeroShardOwnsAll: without --shard every path is measured.
func TestZeroShardOwnsAll(t *testing.T) {
	for _, name := range names(50) {
		if !(Shard{}).Owns(name) {
			t.Fatalf("the zero Shard does not own %q", name)
		}
	}
}

// within fails unless got is within tol of want.
func within(t *testing.T, what string, got int, want, tol float64) {
	t.Helper()
	if math.Abs(float64(got)-want) > tol {
		t.Errorf("%s: %d, want %.0f ± %.0f", what, got, want, tol)
	}
}

// TestBoundedMove: going from N to N+1 shards moves only the paths the new
// shard wins, about 1/(N+1) of them (within 4 standard deviations of the
// binomial count), and each shard holds about 1/N of the paths; going back
// moves the same paths back.
func TestBoundedMove(t *testing.T) {
	const n = 1000
	paths := names(n)
	for total := 1; total <= 24; total++ {
		moved, load := 0, make([]int, total+1)
		for _, name := range paths {
			before, after := Owner(name, total), Owner(name, total+1)
			load[after]++
			if before != after {
				moved++
				if after != total {
					t.Fatalf("TOTAL %d->%d: %q moved from shard %d to %d, not to the new shard %d", total, total+1, name, before, after, total)
				}
			}
		}
		p := 1 / float64(total+1)
		sd := math.Sqrt(n * p * (1 - p))
		within(t, fmt.Sprintf("TOTAL %d->%d: paths moved", total, total+1), moved, n*p, 4*sd)
		for i, l := range load {
			within(t, fmt.Sprintf("TOTAL %d: paths of shard %d", total+1, i), l, n*p, 4*sd)
		}
		if total == 4 {
			t.Logf("1000 paths, TOTAL 4->5: %d moved (expected 200 ± %.0f)", moved, 4*sd)
		}
	}
}

// TestOwnerStable: the owner of a name depends on nothing but the name and
// TOTAL, across processes and versions; these owners were computed when the
// hash was chosen, and a change here would reshuffle every sharded
// installation on upgrade.
func TestOwnerStable(t *testing.T) {
	got := make([]int, 0, 8)
	for _, name := range []string{"api", "db", "nodeport-a", "nodeport-b", "lb", "redis", "a", ""} {
		got = append(got, Owner(name, 5))
	}
	if want := fmt.Sprint(stableOwners); fmt.Sprint(got) != want {
		t.Errorf("owners with TOTAL 5 are %v, want %s: the hash changed", got, want)
	}
}

// stableOwners are Owner(name, 5) for the names of TestOwnerStable.
var stableOwners = []int{1, 0, 1, 0, 3, 4, 3, 0}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Shard
	}{
		{"0/1", Shard{0, 1}},
		{"2/5", Shard{2, 5}},
		{"idleprobe-2/5", Shard{2, 5}},
		{"my-release-idleprobe-sharded-4/5", Shard{4, 5}},
		{"999/1000", Shard{999, 1000}},
	} {
		got, err := Parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if err == nil && got.String() != fmt.Sprintf("%d/%d", tc.want.Index, tc.want.Total) {
			t.Errorf("Parse(%q).String() = %q", tc.in, got.String())
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `"": want INDEX/TOTAL`},
		{"3", `"3": want INDEX/TOTAL`},
		{"5/5", `INDEX 5 is not below TOTAL 5`},
		{"1/0", `TOTAL "0" is not a number from 1 to 1000`},
		{"1/x", `TOTAL "x" is not a number`},
		{"0/1001", `TOTAL "1001" is not a number from 1 to 1000`},
		{"/3", `INDEX is empty`},
		{"idleprobe-/3", `INDEX is empty`},
		{"idleprobe/3", `INDEX "idleprobe" is neither a number nor a name ending in -ORDINAL`},
		{"+1/3", `INDEX "+1" is neither`},
		{"1/2/3", `TOTAL "2/3" is not a number`},
	} {
		_, err := Parse(tc.in)
		if err == nil {
			t.Errorf("Parse(%q) succeeded", tc.in)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") || !strings.Contains(msg, "examples: 2/5") {
			t.Errorf("Parse(%q) error %q: want one line containing %q and the examples", tc.in, msg, tc.want)
		}
	}
}
