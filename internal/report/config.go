package report

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/idleprobe/idleprobe/configs"
	"github.com/idleprobe/idleprobe/internal/durfmt"
)

// Paths prints the resolved settings of every path of cfg as a table, for
// `idleprobe check-config`.
func Paths(w io.Writer, cfg *configs.Config) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tTARGET\tSCHEDULE\tJITTER\tIDLE RANGE\tSTRATEGY\tBUDGET\tDEADLINE\tCLIENT IDLE")
	for _, p := range cfg.Paths {
		client := "-"
		if p.ClientIdleTimeout > 0 {
			client = durfmt.Short(p.ClientIdleTimeout)
		}
		deadline := durfmt.Short(p.EffectiveDeadline().Round(time.Second))
		if p.Deadline == 0 {
			deadline += " (auto)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s..%s\t%s\t%d\t%s\t%s\n",
			p.Name, p.Target, p.Schedule, durfmt.Short(p.Jitter),
			durfmt.Short(p.MinIdle), durfmt.Short(p.MaxIdle), p.Strategy, p.Budget, deadline, client)
	}
	tw.Flush()
	fmt.Fprintf(w, "  max_connections: %d\n", cfg.MaxConnections)
}
