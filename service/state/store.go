// Package state keeps the latest completed result of every path of
// `idleprobe serve` in a file, so that a restarted service exports them
// again with their original timestamps.
package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/idleprobe/idleprobe/exporters"
	"github.com/idleprobe/idleprobe/internal/atomicfile"
	"github.com/idleprobe/idleprobe/internal/chart"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// Version is the version of the state file format this build writes
// and reads.
const Version = 1

// HistoryLimit is how many published results of a path the state file
// keeps for the history of its limit (the oldest are dropped first).
const HistoryLimit = 200

// Entry is one path's entry in the state file: how the path was
// configured when it was measured, its latest completed result (with its
// trials), and the history of its limit.
type Entry struct {
	Path    exporters.PathInfo
	Result  plan.Result
	History []chart.Point
	// Key identifies the settings the result was measured with (the
	// service's measurement key: target, search and transport settings), so
	// that a later run knows whether it may start from the result. Empty
	// in entries saved without one (and in files written before it).
	Key string
}

// jsonPath is the wire form of exporters.PathInfo.
type jsonPath struct {
	Name                     string            `json:"name"`
	Target                   string            `json:"target"`
	ClientIdleTimeoutSeconds float64           `json:"client_idle_timeout_seconds,omitempty"`
	IntervalSeconds          float64           `json:"interval_seconds,omitempty"`
	Labels                   map[string]string `json:"labels,omitempty"`
}

type jsonEntry struct {
	Path    jsonPath    `json:"path"`
	Result  plan.Result `json:"result"`
	History []jsonPoint `json:"history,omitempty"`
	Key     string      `json:"measure_key,omitempty"`
}

// jsonPoint is the wire form of one chart.Point of a path's history.
type jsonPoint struct {
	At           time.Time `json:"at"`
	LowerSeconds float64   `json:"lower_seconds"`
	UpperSeconds float64   `json:"upper_seconds,omitempty"`
	Found        bool      `json:"found,omitempty"`
}

func toJSONPoint(p chart.Point) jsonPoint {
	j := jsonPoint{At: p.At.UTC(), LowerSeconds: p.Lower.Seconds(), Found: p.Found}
	if p.Found {
		j.UpperSeconds = p.Upper.Seconds()
	}
	return j
}

func fromJSONPoints(js []jsonPoint) []chart.Point {
	out := make([]chart.Point, 0, len(js))
	for _, j := range js {
		out = append(out, chart.Point{At: j.At,
			Lower: time.Duration(math.Round(j.LowerSeconds * 1e9)),
			Upper: time.Duration(math.Round(j.UpperSeconds * 1e9)), Found: j.Found})
	}
	return out
}

// stateFile is the whole state file.
type stateFile struct {
	Version int                  `json:"version"`
	Saved   time.Time            `json:"saved"`
	Paths   map[string]jsonEntry `json:"paths"`
}

func toJSONPath(p exporters.PathInfo) jsonPath {
	return jsonPath{
		Name: p.Name, Target: p.Target,
		ClientIdleTimeoutSeconds: p.ClientIdleTimeout.Seconds(),
		IntervalSeconds:          p.Interval.Seconds(),
		Labels:                   maps.Clone(p.Labels),
	}
}

func fromJSONPath(j jsonPath) exporters.PathInfo {
	return exporters.PathInfo{
		Name: j.Name, Target: j.Target,
		ClientIdleTimeout: time.Duration(math.Round(j.ClientIdleTimeoutSeconds * 1e9)),
		Interval:          time.Duration(math.Round(j.IntervalSeconds * 1e9)),
		Labels:            j.Labels,
	}
}

// Store keeps the latest completed result of every path in a JSON file so
// that a restarted service exports them again. Every Save rewrites the
// whole file atomically (temporary file, fsync, rename, fsync of the
// directory): killed at any moment, even with SIGKILL or a power cut, the
// file holds either the previous state or the new one. It is safe for
// concurrent use.
type Store struct {
	path   string
	logger *slog.Logger
	mu     sync.Mutex
	state  map[string]jsonEntry
}

// Open reads the state file at path (which need not exist yet; its
// directory is created) and returns the store and the results it held,
// keyed by path name.
//
// A state file that cannot be read or decoded is not fatal: it is logged,
// renamed aside to "<path>.corrupt-<unix time>" for inspection, and the
// store starts empty. Entries that decode but make no sense (no finish
// time, an incomplete result) are logged and dropped. Temporary files left
// by a process killed while saving are removed. Open fails only when
// the directory cannot be created.
func Open(path string, logger *slog.Logger) (*Store, map[string]Entry, error) {
	if path == "" {
		return nil, nil, errors.New("state file: no path given")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("file", path)
	s := &Store{path: path, logger: logger, state: map[string]jsonEntry{}}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, nil, fmt.Errorf("state file %s: %w", path, err)
	}
	s.removeTemps()

	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return s, map[string]Entry{}, nil
	case err != nil:
		s.setAside(fmt.Errorf("read: %w", err))
		return s, map[string]Entry{}, nil
	}
	var f stateFile
	if err := decodeState(data, &f); err != nil {
		s.setAside(err)
		return s, map[string]Entry{}, nil
	}
	out := make(map[string]Entry, len(f.Paths))
	for name, e := range f.Paths {
		if err := checkEntry(name, e); err != nil {
			logger.Warn("dropping an unusable entry of the state file", "path", name, "err", err)
			continue
		}
		s.state[name] = e
		out[name] = Entry{Path: fromJSONPath(e.Path), Result: e.Result, History: fromJSONPoints(e.History), Key: e.Key}
	}
	return s, out, nil
}

func decodeState(data []byte, f *stateFile) error {
	if len(data) == 0 {
		return errors.New("the file is empty")
	}
	if err := json.Unmarshal(data, f); err != nil {
		return fmt.Errorf("not a valid state file: %w", err)
	}
	if f.Version != Version {
		return fmt.Errorf("version %d is not supported (this build reads version %d)", f.Version, Version)
	}
	return nil
}

func checkEntry(name string, e jsonEntry) error {
	switch {
	case e.Path.Name != name:
		return fmt.Errorf("entry %q names path %q", name, e.Path.Name)
	case !exporters.Publishable(e.Result):
		return errors.New("the result is incomplete")
	case e.Result.Finished.IsZero():
		return errors.New("the result has no finish time")
	}
	return nil
}

// setAside renames an unusable state file out of the way and logs why.
func (s *Store) setAside(cause error) {
	aside := fmt.Sprintf("%s.corrupt-%d", s.path, time.Now().Unix())
	if err := os.Rename(s.path, aside); err != nil {
		s.logger.Error("state file is unusable and could not be set aside; starting with no stored results, it will be overwritten by the next save",
			"err", errors.Join(cause, err))
		return
	}
	s.logger.Error("state file is unusable; set it aside and starting with no stored results",
		"err", cause, "moved_to", aside)
}

// removeTemps deletes temporary files left by an interrupted save.
func (s *Store) removeTemps() {
	for _, m := range atomicfile.Leftovers(s.path) {
		if err := os.Remove(m); err != nil {
			s.logger.Warn("could not remove a temporary state file", "tmp", m, "err", err)
		}
	}
}

// Path returns the state file's name.
func (s *Store) Path() string { return s.path }

// Save records r (with its trials) as the latest result of the path name
// (described by info), adds it to the path's history (the last
// HistoryLimit results; a path whose target changed starts a new one), and
// rewrites the state file atomically. A result that is not Publishable
// yields exporters.ErrIncomplete and changes nothing. On a write error the previous file is
// kept, and the entry stays in memory for the next Save.
func (s *Store) Save(name string, info exporters.PathInfo, r plan.Result) error {
	return s.SaveKeyed(name, "", info, r)
}

// SaveKeyed is Save with the entry's Key: what identifies the settings r
// was measured with.
func (s *Store) SaveKeyed(name, key string, info exporters.PathInfo, r plan.Result) error {
	if !exporters.Publishable(r) {
		return exporters.ErrIncomplete
	}
	info.Name = name
	s.mu.Lock()
	defer s.mu.Unlock()
	var history []jsonPoint
	if prev, ok := s.state[name]; ok && prev.Path.Target == info.Target {
		history = prev.History
	}
	history = append(history, toJSONPoint(chart.Point{At: r.Finished, Lower: r.Lower, Upper: r.Upper, Found: r.Found}))
	if len(history) > HistoryLimit {
		history = history[len(history)-HistoryLimit:]
	}
	s.state[name] = jsonEntry{Path: toJSONPath(info), Result: r, History: slices.Clip(history), Key: key}
	return s.writeLocked()
}

// History returns the published results of the path name in the order
// they were saved (nil for an unknown path).
func (s *Store) History(name string) []chart.Point {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.state[name]
	if !ok {
		return nil
	}
	return fromJSONPoints(e.History)
}

// Latest returns the entry saved for the path name, restored or saved
// since, and whether there is one.
func (s *Store) Latest(name string) (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.state[name]
	if !ok {
		return Entry{}, false
	}
	return Entry{Path: fromJSONPath(e.Path), Result: e.Result, History: fromJSONPoints(e.History), Key: e.Key}, true
}

// Delete forgets the path name (removed from the configuration) and
// rewrites the state file. Deleting an unknown name does nothing.
func (s *Store) Delete(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.state[name]; !ok {
		return nil
	}
	delete(s.state, name)
	return s.writeLocked()
}

func (s *Store) writeLocked() error {
	data, err := json.MarshalIndent(stateFile{Version: Version, Saved: time.Now().UTC(), Paths: s.state}, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	return atomicfile.Write(s.path, append(data, '\n'), 0o600)
}
