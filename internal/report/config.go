package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/idleprobe/idleprobe/configs"
	"github.com/idleprobe/idleprobe/internal/advice"
	"github.com/idleprobe/idleprobe/internal/durfmt"
	"github.com/idleprobe/idleprobe/prober"
)

// Route is how the configured path p reaches its target beyond the target
// itself (direction, proxy, group, address family), as the views that list
// paths show it.
func Route(p configs.Path) advice.Route {
	target, opts := p.Measurement()
	return advice.Route{
		Direction: prober.EffectiveDirection(target.Scheme, opts.Transport.Direction),
		Proxy:     opts.Transport.Proxy,
		Group:     p.Group,
		Family:    opts.Transport.Family,
	}
}

// routeColumn is an optional column of the paths table: shown only when
// some path has a value for it.
type routeColumn struct {
	head string
	cell func(advice.Route) string
}

var routeColumns = []routeColumn{
	{"DIRECTION", advice.Route.DirectionName},
	{"PROXY", advice.Route.ProxyName},
	{"GROUP", func(rt advice.Route) string { return rt.Group }},
	{"FAMILY", advice.Route.FamilyName},
}

// Paths prints the resolved settings of every path of cfg as a table, for
// `idleprobe check-config`. The route columns (direction when not the
// client, proxy, group, family) appear only when some path uses them.
func Paths(w io.Writer, cfg *configs.Config) {
	routes := make([]advice.Route, len(cfg.Paths))
	var cols []routeColumn
	for i, p := range cfg.Paths {
		routes[i] = Route(p)
	}
	for _, c := range routeColumns {
		for _, rt := range routes {
			if c.cell(rt) != "" {
				cols = append(cols, c)
				break
			}
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "  NAME\tTARGET\tSCHEDULE\tJITTER\tIDLE RANGE\tSTRATEGY\tBUDGET\tDEADLINE\tCLIENT IDLE"
	for _, c := range cols {
		head += "\t" + c.head
	}
	fmt.Fprintln(tw, head)
	for i, p := range cfg.Paths {
		client := "-"
		if p.ClientIdleTimeout > 0 {
			client = durfmt.Short(p.ClientIdleTimeout)
		}
		deadline := durfmt.Short(p.EffectiveDeadline().Round(time.Second))
		if p.Deadline == 0 {
			deadline += " (auto)"
		}
		line := fmt.Sprintf("  %s\t%s\t%s\t%s\t%s..%s\t%s\t%d\t%s\t%s",
			p.Name, p.Target, p.Schedule, durfmt.Short(p.Jitter),
			durfmt.Short(p.MinIdle), durfmt.Short(p.MaxIdle), p.Strategy, p.Budget, deadline, client)
		var cells []string
		for _, c := range cols {
			v := c.cell(routes[i])
			if v == "" {
				v = "-"
			}
			cells = append(cells, v)
		}
		if len(cells) > 0 {
			line += "\t" + strings.Join(cells, "\t")
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
	fmt.Fprintf(w, "  max_connections: %d\n", cfg.MaxConnections)
}
