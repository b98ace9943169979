package main

// The --keepalive flag of measure. The summary's keepalive line and advice
// are the advice package's.

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/idleprobe/idleprobe/prober"
)

// keepaliveUsage is the help text of --keepalive.
const keepaliveUsage = "After finding a limit, check whether TCP keepalive at the client's settings keeps the path alive past it: `IDLE[,INTERVAL[,COUNT]]` in whole seconds, e.g. 30s,75s,9 (INTERVAL defaults to IDLE, COUNT to 9)."

// keepaliveValue is the --keepalive flag: IDLE[,INTERVAL[,COUNT]].
type keepaliveValue struct{ k **prober.KeepaliveCheck }

func (v keepaliveValue) String() string {
	if v.k == nil || *v.k == nil {
		return ""
	}
	k := *v.k
	s := fmtFlagDuration(k.Idle)
	if k.Interval > 0 || k.Count > 0 {
		s += "," + fmtFlagDuration(max(k.Interval, k.Idle))
	}
	if k.Count > 0 {
		s += "," + strconv.Itoa(k.Count)
	}
	return s
}

func (v keepaliveValue) Set(s string) error {
	k, err := parseKeepalive(s)
	if err != nil {
		return err
	}
	*v.k = k
	return nil
}

// parseKeepalive parses IDLE[,INTERVAL[,COUNT]] with one-line errors that
// say what would be valid.
func parseKeepalive(s string) (*prober.KeepaliveCheck, error) {
	const example = "(example: 30s,75s,9)"
	parts := strings.Split(s, ",")
	if len(parts) > 3 {
		return nil, fmt.Errorf("%q has %d parts, want IDLE[,INTERVAL[,COUNT]] %s", s, len(parts), example)
	}
	k := &prober.KeepaliveCheck{}
	for i, p := range parts {
		p = strings.TrimSpace(p)
		name := []string{"idle", "interval", "count"}[i]
		if p == "" {
			return nil, fmt.Errorf("%q: %s is empty, want IDLE[,INTERVAL[,COUNT]] %s", s, name, example)
		}
		if i == 2 {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("%q: count %q must be a whole number of probes, at least 1 %s", s, p, example)
			}
			k.Count = n
			continue
		}
		d, err := time.ParseDuration(p)
		switch {
		case err != nil:
			return nil, fmt.Errorf("%q: %s %q is not a duration %s", s, name, p, example)
		case d <= 0:
			return nil, fmt.Errorf("%q: %s %s must be positive %s", s, name, p, example)
		case d%time.Second != 0:
			return nil, fmt.Errorf("%q: %s %s is not a whole number of seconds (the kernel counts keepalive times in seconds) %s", s, name, p, example)
		}
		if i == 0 {
			k.Idle = d
		} else {
			k.Interval = d
		}
	}
	return k, nil
}
