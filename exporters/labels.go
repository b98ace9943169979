package exporters

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// ReservedLabels are the label names a path's extra labels may not use,
// sorted: "path" and the labels of idleprobe's own metric families (bound,
// mode, outcome...), the ones Prometheus attaches when scraping (job,
// instance), and the ones it gives a meaning in histograms and summaries
// (le, quantile). It is derived from the metric families, so a new label on
// a metric is reserved at once; the config checks labels against it.
var ReservedLabels = reservedLabels()

func reservedLabels() []string {
	names := []string{"path", "job", "instance", "le", "quantile"}
	for _, f := range families {
		names = append(names, f.labels...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// labelNameRE is a Prometheus label name.
var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// CheckLabelName is the one rule for an extra label name, used by the
// collector, the one-shot outputs and the config file: a Prometheus label
// name, not starting with "__" and not in ReservedLabels. The error says
// what would be valid; see ValidateLabels for one naming the label.
func CheckLabelName(name string) error {
	switch {
	case !labelNameRE.MatchString(name):
		return fmt.Errorf("%q is not a valid label name (letters, digits and _, not starting with a digit)", name)
	case strings.HasPrefix(name, "__"):
		return errors.New("label names starting with __ are reserved for Prometheus")
	case slices.Contains(ReservedLabels, name):
		return fmt.Errorf("%q is set by idleprobe or Prometheus itself (reserved: %s)", name, strings.Join(ReservedLabels, ", "))
	}
	return nil
}

// CheckConstLabels checks the constant labels of a process (serve's
// --label) against a path's extra labels: a name may be set in one place
// only, or the series would carry it twice. The error names the path and
// the label.
func CheckConstLabels(constLabels map[string]string, path string, labels map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(labels)) {
		if _, ok := constLabels[name]; ok {
			return fmt.Errorf("path %q: label %q is also given on the command line (--label %s=...); set it in one place only", path, name, name)
		}
	}
	return nil
}
