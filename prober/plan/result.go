package plan

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Result is what one measurement learned about a path: the bracket
// (Lower, Upper] that holds the idle limit, how the path kills connections at
// the upper end, and what it cost to learn it.
type Result struct {
	// Target is the measured address, as given (URL form).
	Target string
	// Settings are the search settings the measurement ran with.
	Settings Settings
	// Lower is the longest idle age that survived (0 when none did).
	Lower time.Duration
	// Upper is the shortest idle age that failed. Meaningful only when Found.
	Upper time.Duration
	// Found is false when no limit was seen up to Settings.Max: Lower is then
	// a lower bound only.
	Found bool
	// Mode is the failure outcome at Upper (Reset, ClosedIdle, Dropped...).
	Mode Outcome
	// CloseAge is the exact idle age at which a close was seen while idle, or
	// 0. When set, the path (or server) closes actively at that age.
	CloseAge time.Duration
	// Agree counts trials consistent with the bracket, Disagree those against
	// it (a reset below Lower, a success above Upper: a flaky path).
	Agree, Disagree int
	// Complete is false when the measurement was cut short (cancelled, or the
	// target became unusable): the bracket is then partial.
	Complete bool
	// Started and Finished bound the measurement in wall time.
	Started, Finished time.Time
	// ConnectionsOpened counts connections opened; PeakConnections is the
	// most that were open at once.
	ConnectionsOpened int
	PeakConnections   int
	// Trials lists every observation in the order the outcomes were known.
	Trials []Trial

	// The optional second question: with TCP keepalive at the client's
	// settings, does the path survive past its idle limit? After the search
	// found a limit, one connection with keepalive on (KeepaliveIdle,
	// KeepaliveInterval, KeepaliveCount) was held idle for KeepaliveHeld and
	// then reused. KeepaliveIdle is 0 when the check was not asked for.
	// KeepaliveChecked is false when it was asked for but gave no answer (no
	// limit found, interrupted, or the connection could not be opened or
	// used); KeepaliveDetail then says why, and otherwise what happened. The
	// check runs after the search: it is not in Trials, Duration or Finished.
	KeepaliveChecked  bool
	KeepaliveRescues  bool
	KeepaliveIdle     time.Duration
	KeepaliveInterval time.Duration
	KeepaliveCount    int
	KeepaliveHeld     time.Duration
	KeepaliveDetail   string
}

// Duration is how long the measurement took.
func (r Result) Duration() time.Duration { return r.Finished.Sub(r.Started) }

// Width is Upper-Lower, or 0 when no limit was found.
func (r Result) Width() time.Duration {
	if !r.Found {
		return 0
	}
	return r.Upper - r.Lower
}

// Counts returns the number of trials per outcome.
func (r Result) Counts() map[Outcome]int {
	m := make(map[Outcome]int)
	for _, t := range r.Trials {
		m[t.Outcome]++
	}
	return m
}

// jsonTrial is the wire form of a Trial.
type jsonTrial struct {
	Conn       ConnID    `json:"conn"`
	AgeSeconds float64   `json:"age_seconds"`
	IdleSince  time.Time `json:"idle_since"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Outcome    Outcome   `json:"outcome"`
	Confirm    bool      `json:"confirm,omitempty"`
	Detail     string    `json:"detail,omitempty"`
}

type jsonSettings struct {
	Strategy              Strategy `json:"strategy"`
	MinSeconds            float64  `json:"min_seconds"`
	MaxSeconds            float64  `json:"max_seconds"`
	Precision             float64  `json:"precision"`
	PrecisionFloorSeconds float64  `json:"precision_floor_seconds"`
	Budget                int      `json:"budget"`
	Confirm               int      `json:"confirm"`
}

// jsonResult is the wire form of a Result: the `--output json` document and
// the state file entry.
type jsonResult struct {
	Target            string         `json:"target"`
	Strategy          Strategy       `json:"strategy"`
	LowerSeconds      float64        `json:"lower_seconds"`
	UpperSeconds      *float64       `json:"upper_seconds"`
	Mode              *Outcome       `json:"mode"`
	CloseAgeSeconds   *float64       `json:"close_age_seconds,omitempty"`
	Complete          bool           `json:"complete"`
	Agree             int            `json:"agree"`
	Disagree          int            `json:"disagree"`
	Started           time.Time      `json:"started"`
	Finished          time.Time      `json:"finished"`
	DurationSeconds   float64        `json:"duration_seconds"`
	ConnectionsOpened int            `json:"connections_opened"`
	PeakConnections   int            `json:"peak_connections"`
	Settings          jsonSettings   `json:"settings"`
	Keepalive         *jsonKeepalive `json:"keepalive"`
	Trials            []jsonTrial    `json:"trials"`
}

// jsonKeepalive is the wire form of the keepalive check: null when it was
// not asked for; rescues is null when it was asked for but gave no answer.
type jsonKeepalive struct {
	IdleSeconds     float64 `json:"idle_seconds"`
	IntervalSeconds float64 `json:"interval_seconds"`
	Count           int     `json:"count"`
	HeldSeconds     float64 `json:"held_seconds"`
	Rescues         *bool   `json:"rescues"`
	Outcome         string  `json:"outcome"`
}

func secs(d time.Duration) float64 { return math.Round(d.Seconds()*1e6) / 1e6 }

func dur(s float64) time.Duration { return time.Duration(math.Round(s * 1e9)) }

// MarshalJSON encodes r with durations in seconds and upper_seconds null
// when no limit was found.
func (r Result) MarshalJSON() ([]byte, error) {
	j := jsonResult{
		Target:            r.Target,
		Strategy:          r.Settings.Strategy,
		LowerSeconds:      secs(r.Lower),
		Complete:          r.Complete,
		Agree:             r.Agree,
		Disagree:          r.Disagree,
		Started:           r.Started,
		Finished:          r.Finished,
		DurationSeconds:   secs(r.Duration()),
		ConnectionsOpened: r.ConnectionsOpened,
		PeakConnections:   r.PeakConnections,
		Settings: jsonSettings{
			Strategy:              r.Settings.Strategy,
			MinSeconds:            secs(r.Settings.Min),
			MaxSeconds:            secs(r.Settings.Max),
			Precision:             r.Settings.Precision,
			PrecisionFloorSeconds: secs(r.Settings.PrecisionFloor),
			Budget:                r.Settings.Budget,
			Confirm:               r.Settings.Confirm,
		},
		Trials: make([]jsonTrial, 0, len(r.Trials)),
	}
	if r.Found {
		u := secs(r.Upper)
		j.UpperSeconds = &u
		m := r.Mode
		j.Mode = &m
	}
	if r.CloseAge > 0 {
		c := secs(r.CloseAge)
		j.CloseAgeSeconds = &c
	}
	if r.KeepaliveIdle > 0 {
		k := &jsonKeepalive{
			IdleSeconds: secs(r.KeepaliveIdle), IntervalSeconds: secs(r.KeepaliveInterval),
			Count: r.KeepaliveCount, HeldSeconds: secs(r.KeepaliveHeld), Outcome: r.KeepaliveDetail,
		}
		if r.KeepaliveChecked {
			rescues := r.KeepaliveRescues
			k.Rescues = &rescues
		}
		j.Keepalive = k
	}
	for _, t := range r.Trials {
		j.Trials = append(j.Trials, jsonTrial{
			Conn: t.Conn, AgeSeconds: secs(t.Age), IdleSince: t.IdleSince,
			Start: t.Start, End: t.End, Outcome: t.Outcome, Confirm: t.Confirm, Detail: t.Detail,
		})
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes the form written by MarshalJSON.
func (r *Result) UnmarshalJSON(b []byte) error {
	var j jsonResult
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if j.UpperSeconds != nil && j.Mode == nil {
		return fmt.Errorf("upper_seconds is set but mode is missing")
	}
	*r = Result{
		Target: j.Target,
		Settings: Settings{
			Strategy: j.Settings.Strategy, Min: dur(j.Settings.MinSeconds), Max: dur(j.Settings.MaxSeconds),
			Precision: j.Settings.Precision, PrecisionFloor: dur(j.Settings.PrecisionFloorSeconds),
			Budget: j.Settings.Budget, Confirm: j.Settings.Confirm,
		},
		Lower:             dur(j.LowerSeconds),
		Complete:          j.Complete,
		Agree:             j.Agree,
		Disagree:          j.Disagree,
		Started:           j.Started,
		Finished:          j.Finished,
		ConnectionsOpened: j.ConnectionsOpened,
		PeakConnections:   j.PeakConnections,
	}
	if r.Settings.Strategy == "" {
		r.Settings.Strategy = j.Strategy
	}
	if j.UpperSeconds != nil {
		r.Found = true
		r.Upper = dur(*j.UpperSeconds)
		r.Mode = *j.Mode
	}
	if j.CloseAgeSeconds != nil {
		r.CloseAge = dur(*j.CloseAgeSeconds)
	}
	if k := j.Keepalive; k != nil {
		if k.IdleSeconds <= 0 {
			return fmt.Errorf("keepalive.idle_seconds must be positive, got %g", k.IdleSeconds)
		}
		r.KeepaliveIdle, r.KeepaliveInterval = dur(k.IdleSeconds), dur(k.IntervalSeconds)
		r.KeepaliveCount, r.KeepaliveHeld, r.KeepaliveDetail = k.Count, dur(k.HeldSeconds), k.Outcome
		if k.Rescues != nil {
			r.KeepaliveChecked, r.KeepaliveRescues = true, *k.Rescues
		}
	}
	for _, t := range j.Trials {
		r.Trials = append(r.Trials, Trial{
			Conn: t.Conn, Age: dur(t.AgeSeconds), IdleSince: t.IdleSince, Start: t.Start,
			End: t.End, Outcome: t.Outcome, Confirm: t.Confirm, Detail: t.Detail,
		})
	}
	return nil
}
