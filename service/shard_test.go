package service

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/configs"
	"github.com/idleprobe/idleprobe/internal/shard"
	"github.com/idleprobe/idleprobe/prober"
)

// TestShardsMeasureEachPathOnce runs three shards of one config: each
// exports and measures exactly the paths its shard owns, together every
// path once, and each says which shard it is.
func TestShardsMeasureEachPathOnce(t *testing.T) {
	checkLeaks(t)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "idleprobe.yml")
	var paths []pathConfig
	var names []string
	for i := range 12 {
		name := fmt.Sprintf("path-%d", i)
		names = append(names, name)
		paths = append(paths, pathConfig{name: name, target: fmt.Sprintf("http://127.0.0.1:%d/", 10000+i)})
	}
	writeConfig(t, cfgFile, paths...)

	const total = 3
	var mu sync.Mutex
	measured := map[string][]int{} // target -> shards that measured it
	exported := map[string][]int{} // path -> shards that export it
	for i := range total {
		ts := startService(t, cfgFile, filepath.Join(dir, fmt.Sprintf("state-%d.json", i)), func(o *Options) {
			o.Shard = shard.Shard{Index: i, Total: total}
			o.Measure = func(_ context.Context, target prober.Target, _ prober.Options) (prober.Result, error) {
				mu.Lock()
				defer mu.Unlock()
				measured[target.Address] = append(measured[target.Address], i)
				return prober.Result{}, errors.New("stand-in: not measured")
			}
		})
		fams := metrics(t, ts.url)
		for _, m := range fams["idleprobe_path_info"].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "path" {
					exported[l.GetValue()] = append(exported[l.GetValue()], i)
				}
			}
		}
		if v, ok := value(fams, "idleprobe_shard_index", nil); !ok || v != float64(i) {
			t.Errorf("shard %d: idleprobe_shard_index = %g (present %v)", i, v, ok)
		}
		if v, ok := value(fams, "idleprobe_shard_total", nil); !ok || v != total {
			t.Errorf("shard %d: idleprobe_shard_total = %g (present %v)", i, v, ok)
		}
		if _, body := get(t, ts.url+"/"); !strings.Contains(body, fmt.Sprintf("Shard %d/%d", i, total)) {
			t.Errorf("shard %d: the landing page does not say which shard it is", i)
		}
	}
	waitFor(t, 20*time.Second, "every path measured", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(measured) == len(names)
	})
	for i, name := range names {
		owner := shard.Owner(name, total)
		if got := exported[name]; !slices.Equal(got, []int{owner}) {
			t.Errorf("%s is exported by shards %v, want only its owner %d", name, got, owner)
		}
		mu.Lock()
		got := measured[paths[i].target[len("http://"):len(paths[i].target)-1]]
		mu.Unlock()
		if !slices.Equal(got, []int{owner}) {
			t.Errorf("%s was measured by shards %v, want only its owner %d", name, got, owner)
		}
	}
}

// TestConstLabels: --label puts its labels on every series; a config whose
// path sets the same label is refused at start and on reload.
func TestConstLabels(t *testing.T) {
	checkLeaks(t)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "idleprobe.yml")
	writeConfig(t, cfgFile, pathConfig{name: "web", target: "http://127.0.0.1:1/"})
	labels := map[string]string{"node": "node-a", "zone": "z1"}
	ts := startService(t, cfgFile, filepath.Join(dir, "state.json"), func(o *Options) {
		o.ConstLabels = labels
		o.Measure = func(context.Context, prober.Target, prober.Options) (prober.Result, error) {
			return prober.Result{}, errors.New("stand-in: not measured")
		}
	})
	fams := metrics(t, ts.url)
	for _, name := range []string{"idleprobe_path_info", "idleprobe_build_info", "idleprobe_trial_connections", "go_goroutines"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	series := 0
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			series++
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			if got["node"] != "node-a" || got["zone"] != "z1" {
				t.Fatalf("a series of %s has labels %v, want node=node-a and zone=z1", name, got)
			}
		}
	}
	t.Logf("%d series, all with the constant labels", series)

	clash := "paths:\n  - name: web\n    target: http://127.0.0.1:1/\n    labels: {node: other}\n"
	writeFile(t, cfgFile, clash)
	err := ts.s.Reload()
	if err == nil || !strings.Contains(err.Error(), `path "web": label "node" is also given on the command line`) {
		t.Errorf("Reload with a clashing label: %v", err)
	}
	cfg, _, err := configs.Load(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	s := New(cfg, Options{ConfigFile: cfgFile, StatePath: filepath.Join(dir, "state2.json"), ConstLabels: labels})
	if err := s.Start(); err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), cfgFile) {
		t.Errorf("Start with a clashing label: %v, want one line naming the file", err)
	}
	_ = s.Stop(context.Background())
}
