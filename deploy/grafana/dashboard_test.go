package main

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// TestCommittedJSON checks that idleprobe.json is what the generator
// writes: edit dashboard.go, then `go run . > idleprobe.json`.
func TestCommittedJSON(t *testing.T) {
	var b bytes.Buffer
	if err := write(&b); err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("idleprobe.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, b.Bytes()) {
		t.Errorf("idleprobe.json is not what dashboard.go generates; run `cd deploy/grafana && go run . > idleprobe.json`")
	}
}

// TestPanels checks the shape every panel needs: a Prometheus query from
// the datasource variable, with the path and node selectors on every
// per-path query, a title and a description; and unique, non-overlapping
// grid positions.
func TestPanels(t *testing.T) {
	d, err := Dashboard()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(d)
	var doc struct {
		Panels []struct {
			Type, Title, Description string
			GridPos                  struct{ H, W, X, Y int }
			Datasource               struct{ Type, UID string }
			Targets                  []struct {
				Expr       string
				Datasource struct{ UID string }
			}
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	cells := map[[2]int]string{}
	queries := 0
	for _, p := range doc.Panels {
		for x := p.GridPos.X; x < p.GridPos.X+p.GridPos.W; x++ {
			for y := p.GridPos.Y; y < p.GridPos.Y+p.GridPos.H; y++ {
				if other, ok := cells[[2]int{x, y}]; ok {
					t.Errorf("%q overlaps %q at (%d, %d)", p.Title, other, x, y)
				}
				cells[[2]int{x, y}] = p.Title
			}
		}
		if p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("%q is wider than the grid", p.Title)
		}
		if p.Type == "row" {
			continue
		}
		if p.Description == "" || len(p.Targets) == 0 || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: description %q, %d targets, datasource %q", p.Title, p.Description, len(p.Targets), p.Datasource.UID)
		}
		for _, q := range p.Targets {
			queries++
			if q.Datasource.UID != "${datasource}" {
				t.Errorf("%q: query %s has datasource %q", p.Title, q.Expr, q.Datasource.UID)
			}
			if !strings.Contains(q.Expr, `node=~"$node"`) {
				t.Errorf("%q: query %s does not select $node", p.Title, q.Expr)
			}
			if !strings.Contains(q.Expr, `path=~"$path"`) && !strings.HasPrefix(q.Expr, "idleprobe_trial_connections") {
				t.Errorf("%q: query %s does not select $path", p.Title, q.Expr)
			}
		}
	}
	if queries < 10 {
		t.Errorf("%d queries; the dashboard lost panels", queries)
	}
}
