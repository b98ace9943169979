package plan

import (
	"encoding/json"
	"fmt"
	"github.com/idleprobe/idleprobe/prober/hop"
	"math"
	"time"
)

// Status says how a measurement ended.
type Status string

// The ways a measurement ends.
const (
	// Measured: the search ended with a bracket of the wanted precision,
	// confirmed, or with "no limit up to Max".
	Measured Status = "measured"
	// Inconclusive: the search reached its deadline or its trial cap before
	// the evidence settled (Reason says which; the bracket is the evidence
	// so far, Disagree counts the contradicting trials).
	Inconclusive Status = "inconclusive"
	// Unusable: the target cannot be measured: connections could not be
	// opened, or every reuse fails whatever the idle time (a protocol
	// mismatch: our payload breaks the server's protocol).
	Unusable Status = "unusable"
	// Interrupted: the caller cancelled the measurement (set by the driver).
	Interrupted Status = "interrupted"
)

// Kind says which clock a limit runs on.
type Kind string

// The kinds of limit.
const (
	// Idle: the limit is on idle time, counted from the last exchange
	// (conntrack, IPVS, NAT, nginx keepalive_timeout). Client knob: the pool's
	// idle timeout, or TCP keepalive.
	Idle Kind = "idle"
	// Lifetime: the limit is on connection age, counted from the handshake
	// whatever was sent since (PostgreSQL authentication_timeout, nginx
	// keepalive_time, Envoy max_connection_duration, gRPC
	// MaxConnectionAge). Client knob: the pool's max lifetime.
	Lifetime Kind = "lifetime"
)

// LifetimeLimit is a limit on connection age seen beside (or instead of) the
// idle limit.
type LifetimeLimit struct {
	// Found is true when connections were seen to end at an age.
	Found bool
	// Lower is the oldest connection age that still worked; Upper the
	// youngest at which the connection ended (when Found).
	Lower, Upper time.Duration
	// Mode is how it ends: an Outcome, or "retired" when the server answered
	// and then closed (Connection: close, GOAWAY).
	Mode string
}

// Spread describes failures that do not all happen at one age: a server
// that checks its idle clients on a timer (Redis: ten times a second),
// jitter, or several backends with different limits behind one address.
// The bracket holds the shortest limit a client can hit; Spread says how
// far the others reach.
type Spread struct {
	// First and Last are the youngest and oldest ages at which a failure at
	// or above the limit was seen (on the limit's clock). Equal when all
	// failures happened at one age.
	First, Last time.Duration
	// Survived counts trials at ages above the bracket that still worked,
	// of Beyond trials at those ages; LongestSurvived is the oldest such age.
	// On a path that closes idle connections itself, connections still open
	// past the shortest close when the search ended count too: a close would
	// have been seen.
	Survived, Beyond int
	LongestSurvived  time.Duration
}

// Server is what the server said about keeping connections, reported next
// to what was measured.
type Server struct {
	// KeepAliveTimeout is the idle timeout advertised in an HTTP
	// "Keep-Alive: timeout=N" header, or 0.
	KeepAliveTimeout time.Duration
	// KeepAliveMax is the request limit advertised in "Keep-Alive: max=N", or 0.
	KeepAliveMax int
	// Retired counts reuses the server answered and then ended the
	// connection (Connection: close, GOAWAY).
	Retired int
	// RetiredAtReuse is N when every retirement came on the N-th reuse of a
	// connection (a request limit such as nginx keepalive_requests), else 0.
	RetiredAtReuse int
}

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
	// Status says how the measurement ended; Reason, one line, why it did
	// not end Measured (empty when it did).
	Status Status
	Reason string
	// Kind is the clock the limit (Lower, Upper] runs on: idle time or
	// connection age. Idle when no limit was found.
	Kind Kind
	// Lifetime is a limit on connection age seen besides an idle limit (or
	// when connections survived every idle age up to Max). When Kind is
	// Lifetime the bracket itself is on connection age and Lifetime repeats it.
	Lifetime LifetimeLimit
	// Spread says how far failures reach above the bracket (jitter, several
	// backends). Zero when no limit was found.
	Spread Spread
	// Server is what the server advertised (Keep-Alive) and how often it
	// retired connections after answering.
	Server Server
	// Started and Finished bound the measurement in wall time.
	Started, Finished time.Time
	// ConnectionsOpened counts connections opened; PeakConnections is the
	// most that were open at once.
	ConnectionsOpened int
	PeakConnections   int
	// Trials lists every observation in the order the outcomes were known.
	Trials []Trial
	// EndedBy says who sent the packets that ended the connections at the
	// limit, the server or a hop before it, when a packet capture could
	// tell (package hop); nil when no failure was judged.
	EndedBy *EndedBy
	// Hint is the search's provenance when it started from a previous
	// answer (Settings.Hint): from which, and whether it held. Zero when
	// the search was not hinted.
	Hint HintInfo

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

// EndedBy is the verdict on the failures at the limit: the one most of
// them got, and on how many it rests.
type EndedBy struct {
	hop.Verdict
	// Agree is how many of the judged failures got this verdict, of
	// Judged.
	Agree  int `json:"agree"`
	Judged int `json:"judged"`
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
	ConnAge    float64   `json:"conn_age_seconds"`
	Reuse      int       `json:"reuse,omitempty"`
	Retired    bool      `json:"retired,omitempty"`
	EndedBy    string    `json:"ended_by,omitempty"`
	Clock      Kind      `json:"clock,omitempty"`
}

type jsonSettings struct {
	Strategy              Strategy `json:"strategy"`
	MinSeconds            float64  `json:"min_seconds"`
	MaxSeconds            float64  `json:"max_seconds"`
	Precision             float64  `json:"precision"`
	PrecisionFloorSeconds float64  `json:"precision_floor_seconds"`
	Budget                int      `json:"budget"`
	Confirm               int      `json:"confirm"`
	DeadlineSeconds       float64  `json:"deadline_seconds,omitempty"`
}

type jsonLifetime struct {
	LowerSeconds float64  `json:"lower_seconds"`
	UpperSeconds *float64 `json:"upper_seconds"`
	Mode         string   `json:"mode,omitempty"`
}

type jsonSpread struct {
	FirstSeconds           float64 `json:"first_seconds"`
	LastSeconds            float64 `json:"last_seconds"`
	Survived               int     `json:"survived"`
	Beyond                 int     `json:"beyond"`
	LongestSurvivedSeconds float64 `json:"longest_survived_seconds"`
}

type jsonServer struct {
	KeepAliveTimeoutSeconds *float64 `json:"keepalive_timeout_seconds"`
	KeepAliveMax            int      `json:"keepalive_max,omitempty"`
	Retired                 int      `json:"retired"`
	RetiredAtReuse          int      `json:"retired_at_reuse,omitempty"`
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
	Status            Status         `json:"status,omitempty"`
	Reason            string         `json:"reason,omitempty"`
	Kind              Kind           `json:"limit_kind,omitempty"`
	Lifetime          *jsonLifetime  `json:"lifetime"`
	Spread            *jsonSpread    `json:"spread"`
	Server            jsonServer     `json:"server"`
	Agree             int            `json:"agree"`
	Disagree          int            `json:"disagree"`
	Started           time.Time      `json:"started"`
	Finished          time.Time      `json:"finished"`
	DurationSeconds   float64        `json:"duration_seconds"`
	ConnectionsOpened int            `json:"connections_opened"`
	PeakConnections   int            `json:"peak_connections"`
	Settings          jsonSettings   `json:"settings"`
	Keepalive         *jsonKeepalive `json:"keepalive"`
	EndedBy           *EndedBy       `json:"ended_by,omitempty"`
	Hint              *jsonHint      `json:"hint,omitempty"`
	Trials            []jsonTrial    `json:"trials"`
}

// jsonHint is the wire form of HintInfo: absent when the search was not
// hinted.
type jsonHint struct {
	FromSeconds float64 `json:"from_seconds"`
	Held        bool    `json:"held"`
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
		Target:          r.Target,
		Strategy:        r.Settings.Strategy,
		LowerSeconds:    secs(r.Lower),
		Complete:        r.Complete,
		Status:          r.Status,
		Reason:          r.Reason,
		Kind:            r.Kind,
		Agree:           r.Agree,
		Disagree:        r.Disagree,
		Started:         r.Started,
		Finished:        r.Finished,
		DurationSeconds: secs(r.Duration()),
		Server: jsonServer{
			KeepAliveMax: r.Server.KeepAliveMax, Retired: r.Server.Retired, RetiredAtReuse: r.Server.RetiredAtReuse,
		},
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
			DeadlineSeconds:       secs(r.Settings.Deadline),
		},
		Trials: make([]jsonTrial, 0, len(r.Trials)),
	}
	if r.Server.KeepAliveTimeout > 0 {
		k := secs(r.Server.KeepAliveTimeout)
		j.Server.KeepAliveTimeoutSeconds = &k
	}
	if l := r.Lifetime; l.Found || l.Lower > 0 {
		jl := &jsonLifetime{LowerSeconds: secs(l.Lower), Mode: l.Mode}
		if l.Found {
			u := secs(l.Upper)
			jl.UpperSeconds = &u
		}
		j.Lifetime = jl
	}
	if r.Found {
		sp := r.Spread
		j.Spread = &jsonSpread{
			FirstSeconds: secs(sp.First), LastSeconds: secs(sp.Last), Survived: sp.Survived,
			Beyond: sp.Beyond, LongestSurvivedSeconds: secs(sp.LongestSurvived),
		}
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
	if r.Hint.From > 0 {
		j.Hint = &jsonHint{FromSeconds: secs(r.Hint.From), Held: r.Hint.Held}
	}
	for _, t := range r.Trials {
		j.Trials = append(j.Trials, jsonTrial{
			Conn: t.Conn, AgeSeconds: secs(t.Age), IdleSince: t.IdleSince,
			Start: t.Start, End: t.End, Outcome: t.Outcome, Confirm: t.Confirm, Detail: t.Detail,
			ConnAge: secs(t.ConnAge), Reuse: t.Reuse, Retired: t.Retired, EndedBy: t.EndedBy, Clock: t.Clock,
		})
	}
	j.EndedBy = r.EndedBy
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
			Budget: j.Settings.Budget, Confirm: j.Settings.Confirm, Deadline: dur(j.Settings.DeadlineSeconds),
		},
		Lower:    dur(j.LowerSeconds),
		Complete: j.Complete,
		Status:   j.Status,
		Reason:   j.Reason,
		Kind:     j.Kind,
		Server: Server{
			KeepAliveMax: j.Server.KeepAliveMax, Retired: j.Server.Retired, RetiredAtReuse: j.Server.RetiredAtReuse,
		},
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
	if r.Status == "" {
		// Written before statuses existed.
		r.Status = Measured
		if !r.Complete {
			r.Status = Interrupted
		}
	}
	if r.Kind == "" {
		r.Kind = Idle
	}
	if k := j.Server.KeepAliveTimeoutSeconds; k != nil {
		r.Server.KeepAliveTimeout = dur(*k)
	}
	if l := j.Lifetime; l != nil {
		r.Lifetime = LifetimeLimit{Lower: dur(l.LowerSeconds), Mode: l.Mode}
		if l.UpperSeconds != nil {
			r.Lifetime.Found, r.Lifetime.Upper = true, dur(*l.UpperSeconds)
		}
	}
	if sp := j.Spread; sp != nil {
		r.Spread = Spread{
			First: dur(sp.FirstSeconds), Last: dur(sp.LastSeconds), Survived: sp.Survived,
			Beyond: sp.Beyond, LongestSurvived: dur(sp.LongestSurvivedSeconds),
		}
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
	if h := j.Hint; h != nil {
		if h.FromSeconds <= 0 {
			return fmt.Errorf("hint.from_seconds must be positive, got %g", h.FromSeconds)
		}
		r.Hint = HintInfo{From: dur(h.FromSeconds), Held: h.Held}
		r.Settings.Hint = r.Hint.From
	}
	for _, t := range j.Trials {
		r.Trials = append(r.Trials, Trial{
			Conn: t.Conn, Age: dur(t.AgeSeconds), IdleSince: t.IdleSince, Start: t.Start,
			End: t.End, Outcome: t.Outcome, Confirm: t.Confirm, Detail: t.Detail,
			ConnAge: dur(t.ConnAge), Reuse: t.Reuse, Retired: t.Retired, EndedBy: t.EndedBy, Clock: t.Clock,
		})
	}
	r.EndedBy = j.EndedBy
	return nil
}
