package exporters

import (
	"bytes"
	"html/template"
	"log/slog"
	"net/http"
	"time"

	"github.com/idleprobe/idleprobe/internal/advice"
	"github.com/idleprobe/idleprobe/internal/chart"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// LandingConfig configures the landing page.
type LandingConfig struct {
	// Version is shown in the page header (e.g. "0.1.0 (rev abc123)").
	Version string
	// MetricsPath is the telemetry path linked from the page (default
	// "/metrics").
	MetricsPath string
	// Now returns the current time (default time.Now), for the "ago" column.
	Now func() time.Time
	// Logger receives template errors; nil discards them.
	Logger *slog.Logger
	// Shard is this process's shard ("2/5", see internal/shard), or "" when
	// it measures every configured path.
	Shard string
	// History, when set, returns the published results of a path in time
	// order (from the state file), for the history chart of its page.
	History func(name string) []chart.Point
}

type landingRow struct {
	Name, Link, Target, Bracket, Kind, Mode, LastMeasured, LastAttempt, LastError string
	ClientIdleTimeout, Margin, Keepalive                                          string
	// Details are the result in words: the limit, a lifetime limit, the
	// spread of closes, the server's hints and the advice.
	Details []string
	// Route is how the path reaches its target beyond the target itself
	// (direction when the server sends, proxy, group, family), one
	// "Label: value" each.
	Route                                          []string
	MarginBad, KeepaliveBad, InProgress, HasResult bool
}

type landingData struct {
	Version, MetricsPath string
	Rows                 []landingRow
	Shard                string
	// HasRoute shows the Route column: some path has a route setting.
	HasRoute bool
	// Groups compare the paths of each group side by side (groups.go).
	Groups []groupSection
}

var landingTmpl = template.Must(template.Must(template.New("landing").Parse(groupsTmpl)).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>idleprobe</title>
<link rel="icon" href="data:,">
<style>
body { font-family: sans-serif; margin: 2em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
.bad { color: #b00; font-weight: bold; }
.muted { color: #777; }
</style>
</head>
<body>
<h1>idleprobe</h1>
<p>Measures how long a kept-alive connection may stay idle on each configured path.{{if .Version}} Version {{.Version}}.{{end}}</p>
<p><a href="{{.MetricsPath}}">Metrics</a></p>
{{- if .Shard}}
<p>Shard {{.Shard}}: this process measures only the paths of the config that its shard owns.</p>
{{- end}}
<h2>Paths</h2>
{{- if .Rows}}
<table>
<thead><tr><th>Path</th><th>Target</th>{{if .HasRoute}}<th>Route</th>{{end}}<th>Limit</th><th>Kind</th><th>Mode</th><th>Details</th><th>Last measured</th><th>Client idle timeout</th><th>Margin</th><th>TCP keepalive</th><th>Status</th></tr></thead>
<tbody>
{{- range .Rows}}
<tr>
<td><a href="{{.Link}}">{{.Name}}</a></td>
<td>{{.Target}}</td>
{{- if $.HasRoute}}
<td>{{range $i, $d := .Route}}{{if $i}}<br>{{end}}{{$d}}{{end}}</td>
{{- end}}
<td>{{if .HasResult}}{{.Bracket}}{{else}}<span class="muted">not measured yet</span>{{end}}</td>
<td>{{.Kind}}</td>
<td>{{.Mode}}</td>
<td>{{range $i, $d := .Details}}{{if $i}}<br>{{end}}{{$d}}{{end}}</td>
<td>{{.LastMeasured}}</td>
<td>{{.ClientIdleTimeout}}</td>
<td{{if .MarginBad}} class="bad"{{end}}>{{.Margin}}</td>
<td{{if .KeepaliveBad}} class="bad"{{end}}>{{.Keepalive}}</td>
<td>{{if .InProgress}}measuring{{else}}idle{{end}}{{if .LastError}}<br><span class="bad">last attempt {{.LastAttempt}} failed: {{.LastError}}</span>{{end}}</td>
</tr>
{{- end}}
</tbody>
</table>
{{- else}}
<p>No paths are configured.</p>
{{- end}}
{{template "groups" .Groups}}
</body>
</html>
`))

// LandingPage returns the handler for "/": a page listing every path
// registered on c with its route (direction when the server sends, proxy,
// group, family; a column only when some path has one), its latest result
// (bracket, kind, mode, the result in words as measure's summary says it:
// direction, hint, limit, lifetime limit, spread, server hints, proxy
// verdict, who ended the connections, advice; when it was measured, client
// idle timeout and margin), the reason of its last failure, and a link to
// the metrics.
// Each path's name links to its page, "/path/NAME": its latest result in
// words and as a chart of its trials, and the history of its limit
// (cfg.History).
// Other paths under "/" answer 404; methods other than GET and HEAD 405.
func LandingPage(c *Collector, cfg LandingConfig) http.Handler {
	if cfg.MetricsPath == "" {
		cfg.MetricsPath = "/metrics"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, req *http.Request) {
		now := cfg.Now()
		data := landingData{Version: cfg.Version, MetricsPath: cfg.MetricsPath, Shard: cfg.Shard}
		paths := c.Paths()
		for _, ps := range paths {
			row := landingRowFor(ps, now)
			data.HasRoute = data.HasRoute || len(row.Route) > 0
			data.Rows = append(data.Rows, row)
		}
		data.Groups = groupSections(paths)
		render(w, cfg, func(b *bytes.Buffer) error { return landingTmpl.Execute(b, data) })
	})
	mux.HandleFunc("/path/{name}", func(w http.ResponseWriter, req *http.Request) {
		servePathPage(w, req, c, cfg)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		mux.ServeHTTP(w, req)
	})
}

func landingRowFor(ps PathStatus, now time.Time) landingRow {
	row := landingRow{
		Name:              ps.Info.Name,
		Link:              pathURL(ps.Info.Name),
		Target:            redact(ps.Info.Target),
		InProgress:        ps.InProgress,
		LastError:         ps.LastError,
		Mode:              "-",
		Kind:              "-",
		Margin:            "-",
		Keepalive:         "not checked",
		ClientIdleTimeout: "not set",
		Route:             factLines(route(ps.Info, ps.Result).Facts()),
	}
	if !ps.LastAttempt.IsZero() {
		row.LastAttempt = when(ps.LastAttempt, now)
	}
	client := ps.Info.ClientIdleTimeout
	if client > 0 {
		row.ClientIdleTimeout = advice.Dur(client)
	}
	r := ps.Result
	if r == nil {
		row.LastMeasured = "never"
		return row
	}
	row.HasResult = true
	row.LastMeasured = when(r.Finished, now)
	row.Kind = string(advice.KindOf(*r))
	row.Mode = ModeNone
	row.Bracket = advice.Limit(*r)
	if r.Found {
		row.Bracket = advice.Bracket(r.Lower, r.Upper)
		row.Mode = string(r.Mode)
	}
	row.Details = details(*r, ps.Info.Proxy)
	if client > 0 {
		m := r.Lower - client
		row.Margin = advice.Dur(m)
		row.MarginBad = m <= 0
	}
	if k := advice.Keepalive(*r); k != "" {
		row.Keepalive = advice.KeepaliveSettings(*r) + ": " + k
		if name := advice.RescueName(*r); name != "TCP keepalive" {
			row.Keepalive = name + " " + row.Keepalive // a ping check (ws, grpc)
		}
		row.KeepaliveBad = r.KeepaliveChecked && !r.KeepaliveRescues
	}
	return row
}

// details is a published result in words, as the summary of `idleprobe
// measure` says it: how it was measured (direction, hint), what it found
// (the limit, a lifetime limit, spread, the server's hints, the verdict on
// the proxy px when the path has one, who ended the connections), the
// advice and a warning.
func details(r plan.Result, px *prober.Proxy) []string {
	out := factLines(advice.Setup(r))
	out = append(out, factLines(advice.Findings(r, prober.JudgeProxy(r, px)))...)
	out = append(out, advice.Advice(r)...)
	if w := advice.Warning(r); w != "" {
		out = append(out, w)
	}
	return out
}

// factLines words facts as "Label: text", one each.
func factLines(fs []advice.Fact) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.Label+": "+f.Text)
	}
	return out
}

// route is how the path of info reaches its target; its direction is the
// configured one, or the result r's when info does not say (r may be nil).
func route(info PathInfo, r *plan.Result) advice.Route {
	rt := advice.Route{Direction: info.Direction, Proxy: info.Proxy, Group: info.Group, Family: info.Family}
	if rt.Direction == "" && r != nil {
		rt.Direction = r.Direction
	}
	return rt
}

// when formats t in UTC with how long ago it was.
func when(t, now time.Time) string {
	ago := now.Sub(t).Round(time.Second)
	s := t.UTC().Format(time.RFC3339)
	if ago >= 0 {
		s += " (" + ago.String() + " ago)"
	}
	return s
}
