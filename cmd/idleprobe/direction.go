package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/idleprobe/idleprobe/configs"
	"github.com/idleprobe/idleprobe/internal/report"
	"github.com/idleprobe/idleprobe/prober"
)

// directionBoth is the --direction value that measures both directions.
const directionBoth = "both"

// directionChoice sets p's direction from --direction and adds the
// problems of both to errs. For both, p gets the server direction, so
// that the path's check (configs.Path.Check) says whether the target can
// be measured from that side; the client side always can.
func (f *measureFlags) directionChoice(p *configs.Path, errs []string) []string {
	d := *f.direction
	if d != directionBoth {
		p.Direction = d
		return errs
	}
	p.Direction = prober.DirectionServer
	if !slices.Contains(report.BothOutputs, *f.output) {
		errs = append(errs, fmt.Sprintf("--direction: both writes two results side by side, as %s, not --output %s", strings.Join(report.BothOutputs, " or "), *f.output))
	}
	if *f.pushURL != "" {
		errs = append(errs, "--push-gateway: not with --direction both (push one direction at a time)")
	}
	return errs
}
