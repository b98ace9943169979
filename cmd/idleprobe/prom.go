package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/idleprobe/idleprobe/prober"
)

// writeProm writes r in the Prometheus text exposition format, for
// node_exporter's textfile collector (`measure --output prom > file.prom`).
//
// Hook for the exporters package: it may replace this body with its own
// collector-based rendering; keep the signature.
func writeProm(w io.Writer, r prober.Result) error {
	t := escapeLabel(r.Target)
	var b strings.Builder
	if !r.Complete {
		b.WriteString("# PARTIAL result: the measurement did not finish; the bracket is not final.\n")
	}
	b.WriteString("# HELP idleprobe_idle_limit_seconds Idle time a kept-alive connection survived (bound=\"lower\") or did not survive (bound=\"upper\") on the path.\n")
	b.WriteString("# TYPE idleprobe_idle_limit_seconds gauge\n")
	fmt.Fprintf(&b, "idleprobe_idle_limit_seconds{target=\"%s\",bound=\"lower\"} %s\n", t, promFloat(r.Lower.Seconds()))
	if r.Found {
		fmt.Fprintf(&b, "idleprobe_idle_limit_seconds{target=\"%s\",bound=\"upper\"} %s\n", t, promFloat(r.Upper.Seconds()))
		b.WriteString("# HELP idleprobe_idle_limit_info How the path kills idle connections at the upper bound.\n")
		b.WriteString("# TYPE idleprobe_idle_limit_info gauge\n")
		fmt.Fprintf(&b, "idleprobe_idle_limit_info{target=\"%s\",mode=\"%s\"} 1\n", t, escapeLabel(string(r.Mode)))
	}
	b.WriteString("# HELP idleprobe_measurement_duration_seconds Wall time the idle-limit measurement took.\n")
	b.WriteString("# TYPE idleprobe_measurement_duration_seconds gauge\n")
	fmt.Fprintf(&b, "idleprobe_measurement_duration_seconds{target=\"%s\"} %s\n", t, promFloat(r.Duration().Seconds()))
	b.WriteString("# HELP idleprobe_measurement_complete 1 if the measurement ran to the end, 0 if the result is partial.\n")
	b.WriteString("# TYPE idleprobe_measurement_complete gauge\n")
	complete := 0
	if r.Complete {
		complete = 1
	}
	fmt.Fprintf(&b, "idleprobe_measurement_complete{target=\"%s\"} %d\n", t, complete)
	if !r.Finished.IsZero() {
		b.WriteString("# HELP idleprobe_last_measurement_timestamp_seconds When the measurement finished, in seconds since the Unix epoch.\n")
		b.WriteString("# TYPE idleprobe_last_measurement_timestamp_seconds gauge\n")
		fmt.Fprintf(&b, "idleprobe_last_measurement_timestamp_seconds{target=\"%s\"} %s\n", t, promFloat(float64(r.Finished.UnixNano())/1e9))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// escapeLabel escapes a label value for the text format.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func promFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
