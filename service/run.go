package service

import (
	"context"
	"strings"
	"time"

	"github.com/idleprobe/idleprobe/configs"
	"github.com/idleprobe/idleprobe/exporters"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/schedule"
)

// measure is one scheduled run of path p: the same prober.Measure as the
// one-shot command, with the global connection cap, and the bookkeeping
// around it. Every run ends by the path's deadline. Only a measured result
// is saved and then published (durable before visible); an inconclusive or
// unusable one counts a failure and leaves the previous result exported.
func (s *Service) measure(ctx context.Context, p configs.Path, key string, info exporters.PathInfo) {
	log := s.log.With("path", p.Name)
	target, opts := p.Measurement()
	opts.Limiter = s.limiter
	opts.Logger = log
	opts.WhichHop = s.opts.WhichHop
	opts.Progress = func(pr prober.Progress) {
		if pr.Trial != nil {
			s.collector.ObserveTrial(p.Name, pr.Trial.Outcome)
		}
	}
	opts.ProgressOnTrials = true // only trials are counted: no wake-up every second
	s.collector.SetInProgress(p.Name, true)
	defer s.collector.SetInProgress(p.Name, false)
	stored, ok := s.store.Latest(p.Name)
	hint, why := hintFor(p, stored, ok, time.Now(), info.Interval)
	opts.Plan.Hint = hint
	if hint > 0 {
		log.Info("measurement starting from the last result", "target", info.Target, "deadline", opts.Plan.Deadline, "hint", hint)
	} else {
		log.Info("measurement starting", "target", info.Target, "deadline", opts.Plan.Deadline, "full_search", why)
	}

	r, err := s.opts.Measure(ctx, target, opts)

	if !s.current(p.Name, key) {
		log.Info("measurement discarded: the path was changed or removed meanwhile", "complete", r.Complete)
		return
	}
	class := exporters.Classify(r, err)
	if class == exporters.ResultSuccess {
		if err := s.store.SaveKeyed(p.Name, measureKey(p), info, r); err != nil {
			log.Error("could not save the result to the state file", "file", s.opts.StatePath, "err", err)
		}
	}
	s.collector.Record(p.Name, r, err)
	switch class {
	case exporters.ResultSuccess:
		upper := "none"
		if r.Found {
			upper = r.Upper.String()
		}
		attrs := []any{"lower", r.Lower, "upper", upper, "mode", r.Mode, "kind", r.Kind,
			"duration", r.Duration().Round(time.Millisecond), "connections", r.ConnectionsOpened}
		if r.Hint.From > 0 {
			attrs = append(attrs, "hint", r.Hint.From, "hint_held", r.Hint.Held)
		}
		log.Info("measurement finished", attrs...)
	case exporters.ResultCancelled:
		log.Info("measurement cancelled; its partial result is not published", "err", err)
	default:
		sr := exporters.Settle(r, err)
		log.Warn("measurement failed; the previous result stays published", "status", sr.Status,
			"reason", exporters.Failure(r, err), "found", sr.Found, "lower", sr.Lower, "upper", sr.Upper,
			"agree", sr.Agree, "disagree", sr.Disagree, "duration", sr.Duration().Round(time.Millisecond), "err", err)
	}
}

// pathInfo describes a configured path for the collector and state file.
func pathInfo(p configs.Path) exporters.PathInfo {
	interval, _ := schedule.Period(p.Schedule)
	target, opts := p.Measurement()
	return exporters.PathInfo{
		Name:              p.Name,
		Target:            p.Target,
		ClientIdleTimeout: p.ClientIdleTimeout,
		Interval:          interval,
		Labels:            p.Labels,
		Proxy:             p.Proxy.Prober(),
		Group:             p.Group,
		Family:            p.IPFamily,
		Direction:         prober.EffectiveDirection(target.Scheme, opts.Transport.Direction),
		Order:             p.Line(),
	}
}

// oneLine joins a multi-line message (a config with several problems) into
// one log value.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}
