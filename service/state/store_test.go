package state

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/exporters"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// logRecorder is a slog handler target that keeps every record as JSON.
type logRecorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logRecorder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logRecorder) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func newLogger() (*slog.Logger, *logRecorder) {
	rec := &logRecorder{}
	return slog.New(slog.NewJSONHandler(rec, &slog.HandlerOptions{Level: slog.LevelDebug})), rec
}

func openStore(t *testing.T, file string) (*Store, map[string]Entry, *logRecorder) {
	t.Helper()
	logger, rec := newLogger()
	s, stored, err := Open(file, logger)
	if err != nil {
		t.Fatalf("Open(%s): %v", file, err)
	}
	return s, stored, rec
}

// sameResult compares what the state file keeps of a result: all of it,
// trials included (for the chart of the path's page).
func sameResult(t *testing.T, got, want plan.Result) {
	t.Helper()
	gj, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	wj, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gj, wj) {
		t.Errorf("result differs:\n got %s\nwant %s", gj, wj)
	}
	if !got.Finished.Equal(want.Finished) || got.Lower != want.Lower || got.Found != want.Found {
		t.Errorf("result fields differ: got %+v, want %+v", got, want)
	}
}

func TestStoreRoundTrip(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state", "idleprobe.json")
	s, stored, rec := openStore(t, file)
	if len(stored) != 0 {
		t.Fatalf("new store holds %v", stored)
	}
	if err := s.Save("api", apiPath, foundResult()); err != nil {
		t.Fatal(err)
	}
	if err := s.Save("redis", redisPath, noLimitResult()); err != nil {
		t.Fatal(err)
	}
	if err := s.Save("pg", pgPath, richResult()); err != nil {
		t.Fatal(err)
	}
	if err := s.Save("gone", exporters.PathInfo{Target: "tcp://127.0.0.1:1"}, foundResult()); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("gone"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("never-there"); err != nil {
		t.Fatal(err)
	}
	partial := foundResult()
	partial.Complete = false
	if err := s.Save("api", apiPath, partial); !errors.Is(err, exporters.ErrIncomplete) {
		t.Errorf("Save(incomplete) = %v, want exporters.ErrIncomplete", err)
	}
	if err := s.Save("api", apiPath, inconclusiveResult()); !errors.Is(err, exporters.ErrIncomplete) {
		t.Errorf("Save(inconclusive) = %v, want exporters.ErrIncomplete", err)
	}

	_, stored, rec2 := openStore(t, file)
	if len(stored) != 3 {
		t.Fatalf("reopened store holds %d entries, want 3: %v", len(stored), stored)
	}
	sameResult(t, stored["api"].Result, foundResult())
	sameResult(t, stored["redis"].Result, noLimitResult())
	sameResult(t, stored["pg"].Result, richResult())
	if got := stored["pg"].Result; got.Kind != plan.Lifetime || got.Lifetime != richResult().Lifetime ||
		got.Spread != richResult().Spread || got.Server != richResult().Server || got.Settings.Deadline != richResult().Settings.Deadline {
		t.Errorf("stored kind, lifetime, spread, server or deadline differ: got %+v", got)
	}
	if got := stored["api"].Path; got.Target != apiPath.Target || got.ClientIdleTimeout != apiPath.ClientIdleTimeout ||
		got.Interval != apiPath.Interval || got.Labels["team"] != "web" || got.Name != "api" {
		t.Errorf("stored path info = %+v, want %+v", got, apiPath)
	}
	for _, r := range append(rec.records(t), rec2.records(t)...) {
		t.Errorf("unexpected log: %v", r)
	}

	info, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("state file mode = %v, want 0600", perm)
	}
	raw, _ := os.ReadFile(file)
	var doc struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || doc.Version != Version {
		t.Errorf("state file version = %d (%v), want %d", doc.Version, err, Version)
	}
}

func TestStoreSetsAsideBadFiles(t *testing.T) {
	valid, err := json.Marshal(stateFile{Version: Version, Paths: map[string]jsonEntry{
		"api": {Path: toJSONPath(apiPath), Result: foundResult()},
	}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		content []byte
		dir     bool // the state path is a directory: unreadable
		want    string
	}{
		{"garbage", []byte("\x00\x01 not json"), false, "not a valid state file"},
		{"truncated", valid[:len(valid)/2], false, "not a valid state file"},
		{"empty", nil, false, "the file is empty"},
		{"future version", []byte(`{"version": 99, "paths": {}}`), false, "version 99 is not supported"},
		{"wrong shape", []byte(`{"version": 1, "paths": []}`), false, "not a valid state file"},
		{"unreadable", nil, true, "read:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "idleprobe.json")
			if tc.dir {
				if err := os.Mkdir(file, 0o755); err != nil {
					t.Fatal(err)
				}
			} else if err := os.WriteFile(file, tc.content, 0o600); err != nil {
				t.Fatal(err)
			}
			before := time.Now().Unix()
			s, stored, rec := openStore(t, file)
			if len(stored) != 0 {
				t.Errorf("stored = %v, want empty", stored)
			}
			logs := rec.records(t)
			if len(logs) != 1 || logs[0]["level"] != "ERROR" || !strings.Contains(fmt.Sprint(logs[0]["err"]), tc.want) {
				t.Fatalf("logs = %v, want one ERROR with err containing %q", logs, tc.want)
			}
			aside, _ := logs[0]["moved_to"].(string)
			prefix := file + ".corrupt-"
			if !strings.HasPrefix(aside, prefix) {
				t.Fatalf("moved_to = %q, want %s<unix time>", aside, prefix)
			}
			if ts, err := strconv.ParseInt(strings.TrimPrefix(aside, prefix), 10, 64); err != nil || ts < before || ts > time.Now().Unix() {
				t.Errorf("aside suffix %q is not the current unix time", aside)
			}
			if !tc.dir {
				kept, err := os.ReadFile(aside)
				if err != nil || !bytes.Equal(kept, tc.content) {
					t.Errorf("set-aside file = %q (%v), want the original bytes", kept, err)
				}
			}
			if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("state file still in place: %v", err)
			}
			// The store works on: the next save writes a fresh file.
			if err := s.Save("api", apiPath, foundResult()); err != nil {
				t.Fatalf("Save after setting aside: %v", err)
			}
			if _, again, rec := openStore(t, file); len(again) != 1 || len(rec.records(t)) != 0 {
				t.Errorf("after a fresh save: %d entries, logs %v", len(again), rec.records(t))
			}
		})
	}
}

func TestStoreDropsBadEntries(t *testing.T) {
	partial := foundResult()
	partial.Complete = false
	unfinished := foundResult()
	unfinished.Finished = time.Time{}
	data, err := json.Marshal(stateFile{Version: Version, Paths: map[string]jsonEntry{
		"api":        {Path: toJSONPath(apiPath), Result: foundResult()},
		"partial":    {Path: jsonPath{Name: "partial"}, Result: partial},
		"unfinished": {Path: jsonPath{Name: "unfinished"}, Result: unfinished},
		"misfiled":   {Path: jsonPath{Name: "other"}, Result: foundResult()},
	}})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "idleprobe.json")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, stored, rec := openStore(t, file)
	if len(stored) != 1 || stored["api"].Result.Lower != foundResult().Lower {
		t.Errorf("stored = %v, want only api", stored)
	}
	dropped := map[string]string{}
	for _, r := range rec.records(t) {
		if r["level"] != "WARN" {
			t.Errorf("unexpected log %v", r)
		}
		dropped[fmt.Sprint(r["path"])] = fmt.Sprint(r["err"])
	}
	want := map[string]string{
		"partial":    "the result is incomplete",
		"unfinished": "the result has no finish time",
		"misfiled":   `entry "misfiled" names path "other"`,
	}
	if fmt.Sprint(dropped) != fmt.Sprint(want) {
		t.Errorf("dropped = %v, want %v", dropped, want)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, path, want string }{
		{"no path", "", "no path given"},
		{"directory is a file", filepath.Join(blocker, "state.json"), blocker},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Open(tc.path, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestStoreRemovesTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "idleprobe.json")
	left := filepath.Join(dir, ".idleprobe.json.tmp-12345")
	other := filepath.Join(dir, ".other.json.tmp-1")
	for _, f := range []string{left, other} {
		if err := os.WriteFile(f, []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	openStore(t, file)
	if _, err := os.Stat(left); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leftover temporary file still there: %v", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("another file's temporary file was removed: %v", err)
	}
}

// killChildEnv, when set, makes TestStoreKillChild the child of
// TestStoreSurvivesSIGKILL: it saves in a loop until killed.
const killChildEnv = "IDLEPROBE_TEST_STORE_KILL_FILE"

// killPaths is how many paths the child keeps in its state.
const killPaths = 20

// killResult is the result the child saves for path p in iteration i: its
// fields encode i so the parent can check the entry is whole.
func killResult(i int) plan.Result {
	r := foundResult()
	r.Lower = time.Duration(i) * time.Millisecond
	r.Upper = r.Lower + time.Second
	r.Agree = i
	r.Finished = r.Started.Add(time.Duration(i) * time.Second)
	return r
}

func TestStoreKillChild(t *testing.T) {
	file := os.Getenv(killChildEnv)
	if file == "" {
		t.Skip("child of TestStoreSurvivesSIGKILL only")
	}
	s, _, err := Open(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for i := 1; i <= 1_000_000 && time.Now().Before(deadline); i++ {
		p := fmt.Sprintf("p%02d", i%killPaths)
		info := exporters.PathInfo{Name: p, Target: "tcp://127.0.0.1:9", Labels: map[string]string{"i": strconv.Itoa(i)}}
		if err := s.Save(p, info, killResult(i)); err != nil {
			t.Fatal(err)
		}
		if i == killPaths {
			fmt.Println("ready")
		}
	}
}

func TestStoreSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	file := filepath.Join(t.TempDir(), "idleprobe.json")
	for round, delay := range []time.Duration{5 * time.Millisecond, 37 * time.Millisecond, 150 * time.Millisecond} {
		t.Run(fmt.Sprintf("after %v", delay), func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestStoreKillChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), killChildEnv+"="+file)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			})
			// The reader reports "ready" once, then drains the pipe until
			// the child is gone; drained is closed at EOF.
			ready := make(chan struct{})
			drained := make(chan struct{})
			go func() {
				defer close(drained)
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					if sc.Text() == "ready" {
						close(ready)
						break
					}
				}
				_, _ = io.Copy(io.Discard, stdout)
			}()
			timer := time.NewTimer(15 * time.Second)
			defer timer.Stop()
			select {
			case <-ready:
			case <-drained:
				t.Fatal("child exited before saving")
			case <-timer.C:
				t.Fatal("child not ready within 15s")
			}
			// The moment of the kill within the child's save loop is what
			// each round varies; the child must still be saving (checked below).
			wait := time.NewTimer(delay)
			<-wait.C
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-drained
			err = cmd.Wait()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
				t.Fatalf("child ended with %v, want killed by SIGKILL (it must still be saving)", err)
			}

			_, stored, rec := openStore(t, file)
			for _, r := range rec.records(t) {
				t.Errorf("log after kill (file should be intact): %v", r)
			}
			if len(stored) != killPaths {
				t.Fatalf("state holds %d paths, want %d", len(stored), killPaths)
			}
			for name, sr := range stored {
				i, err := strconv.Atoi(sr.Path.Labels["i"])
				if err != nil {
					t.Fatalf("%s: label i = %q", name, sr.Path.Labels["i"])
				}
				if want := fmt.Sprintf("p%02d", i%killPaths); want != name {
					t.Errorf("%s holds iteration %d of %s", name, i, want)
				}
				sameResult(t, sr.Result, killResult(i))
			}
			matches, _ := filepath.Glob(filepath.Join(filepath.Dir(file), ".*tmp*"))
			if len(matches) != 0 {
				t.Errorf("temporary files left after Open: %v", matches)
			}
			t.Logf("round %d: killed after %v, state intact", round, delay)
		})
	}
}
