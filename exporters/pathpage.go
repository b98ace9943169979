package exporters

import (
	"bytes"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/idleprobe/idleprobe/internal/advice"
	"github.com/idleprobe/idleprobe/internal/chart"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// PathPage is what the page of one path shows: its latest result in words
// and as a chart of its trials, and the history of its limit.
type PathPage struct {
	// Name and Target describe the path (Target is redacted by the page).
	Name, Target string
	// ClientIdleTimeout is drawn on the charts when above 0.
	ClientIdleTimeout time.Duration
	// Result is the latest result, or nil when there is none yet.
	Result *plan.Result
	// Summary, when set, is shown as preformatted text instead of the
	// result in words (`measure --output html` puts its summary there).
	Summary string
	// History is the path's published results in time order; nil leaves
	// the history chart out.
	History []chart.Point
	// Back links to the list of paths ("" for none); Version is shown in
	// the footer.
	Back, Version string
	// LastError is why the latest attempt failed, or "".
	LastError string
	// Route is how the path reaches its target beyond the target itself
	// (direction, proxy, group, family); its proxy also gets a verdict in
	// the result's words. The zero value shows nothing.
	Route advice.Route
}

type pathPageData struct {
	PathPage
	Target          string
	Details, Route  []string
	TrialsSVG       template.HTML
	HistorySVG      template.HTML
	HasHistory      bool
	Trials, Outcome string
}

var pathPageTmpl = template.Must(template.New("path").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>idleprobe: {{.Name}}</title>
<link rel="icon" href="data:,">
<style>
body { font-family: sans-serif; margin: 2em; max-width: 60em; }
svg.idleprobe-chart { max-width: 100%; height: auto; border: 1px solid #ddd; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; }
.bad { color: #b00; font-weight: bold; }
.muted { color: #777; }
</style>
</head>
<body>
{{- if .Back}}
<p><a href="{{.Back}}">&larr; all paths</a></p>
{{- end}}
<h1>{{.Name}}</h1>
<p>Target: <code>{{.Target}}</code></p>
{{- if .Route}}
<ul id="route">
{{- range .Route}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- end}}
{{- if .LastError}}
<p class="bad">The latest attempt failed: {{.LastError}}</p>
{{- end}}
{{- if .Result}}
<h2>Latest measurement</h2>
{{- if .Summary}}
<pre>{{.Summary}}</pre>
{{- else}}
<ul>
{{- range .Details}}
<li>{{.}}</li>
{{- end}}
</ul>
{{- end}}
<figure id="trials">
{{.TrialsSVG}}
<figcaption>{{.Trials}}</figcaption>
</figure>
{{- else}}
<p class="muted">Not measured yet.</p>
{{- end}}
{{- if .HasHistory}}
<h2>History of the limit</h2>
<figure id="history">
{{.HistorySVG}}
<figcaption>Every published result of this path, from the state file: the band spans each bracket (lower, upper]; a hollow dot is a run that found no limit up to its max.</figcaption>
</figure>
{{- end}}
{{- if .Version}}
<p class="muted">idleprobe {{.Version}}</p>
{{- end}}
</body>
</html>
`))

// WritePathPage writes p as a standalone HTML page: no script, no external
// resource, every value escaped (the charts are SVG made by package chart,
// whose text is escaped there).
func WritePathPage(w io.Writer, p PathPage) error {
	d := pathPageData{PathPage: p, Target: redact(p.Target), HasHistory: p.History != nil,
		Route: factLines(p.Route.Facts())}
	if p.Result != nil {
		r := *p.Result
		d.Details = details(r, p.Route.Proxy)
		var b bytes.Buffer
		if err := chart.Trials(&b, p.Name, r, p.ClientIdleTimeout); err != nil {
			return err
		}
		d.TrialsSVG = template.HTML(b.String()) // #nosec: built by package chart, text escaped
		d.Trials = trialsCaption(r)
	}
	if d.HasHistory {
		var b bytes.Buffer
		if err := chart.History(&b, p.Name+": limit over time", p.History, p.ClientIdleTimeout); err != nil {
			return err
		}
		d.HistorySVG = template.HTML(b.String()) // #nosec: built by package chart, text escaped
	}
	return pathPageTmpl.Execute(w, d)
}

// trialsCaption says what the trials chart shows.
func trialsCaption(r plan.Result) string {
	s := "Each dot is one trial: a connection left idle (across) and reused; down is when in the measurement its outcome was known, the colour is the outcome. "
	if r.Found {
		s += "The shaded band is the limit " + advice.Bracket(r.Lower, r.Upper) + "."
	} else {
		s += "No limit was found up to " + advice.Dur(r.Lower) + "."
	}
	if len(r.Trials) == 0 {
		s += " The trials of a result restored from an older state file are not known."
	}
	return s
}

// pathURL is the link from the landing page to the page of a path.
func pathURL(name string) string { return "path/" + url.PathEscape(name) }

// servePathPage answers GET /path/NAME with the page of the registered
// path NAME, or 404.
func servePathPage(w http.ResponseWriter, req *http.Request, c *Collector, cfg LandingConfig) {
	name := req.PathValue("name")
	for _, ps := range c.Paths() {
		if ps.Info.Name != name {
			continue
		}
		p := PathPage{Name: name, Target: ps.Info.Target, ClientIdleTimeout: ps.Info.ClientIdleTimeout,
			Result: ps.Result, Back: "../", Version: cfg.Version, LastError: ps.LastError,
			Route: route(ps.Info, ps.Result)}
		if cfg.History != nil {
			p.History = cfg.History(name)
			if p.History == nil {
				p.History = []chart.Point{}
			}
		}
		render(w, cfg, func(b *bytes.Buffer) error { return WritePathPage(b, p) })
		return
	}
	http.NotFound(w, req)
}

// render writes a page made by fn, or a 500 when fn fails (logged).
func render(w http.ResponseWriter, cfg LandingConfig, fn func(*bytes.Buffer) error) {
	var buf bytes.Buffer
	if err := fn(&buf); err != nil {
		cfg.Logger.Error("rendering a page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}
