package exporters

import (
	"cmp"
	"maps"
	"slices"

	"github.com/idleprobe/idleprobe/internal/compare"
	"github.com/idleprobe/idleprobe/prober"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// groupSection is one group of the landing page: its paths side by side,
// nearest the backend first (PathInfo.Order), the shortest limit and the
// hop that owns it (package compare).
type groupSection struct {
	Name    string
	Rows    []groupRow
	Verdict string
}

// groupRow is one path of a group section.
type groupRow struct {
	Name, Link, Family, Limit string
	// Shortest marks the path (or paths) with the shortest limit found.
	Shortest bool
}

// groupsTmpl is the landing page's section per group.
const groupsTmpl = `{{define "groups"}}{{if .}}
<h2>Groups</h2>
<p>Paths to the same backend through different hops, nearest the backend first (as configured). The shortest limit is in bold.</p>
{{- range .}}
<h3>{{.Name}}</h3>
<table>
<thead><tr><th>Path</th><th>Family</th><th>Limit</th></tr></thead>
<tbody>
{{- range .Rows}}
<tr><td><a href="{{.Link}}">{{.Name}}</a></td><td>{{.Family}}</td><td>{{if .Shortest}}<b>{{.Limit}} (shortest)</b>{{else}}{{.Limit}}{{end}}</td></tr>
{{- end}}
</tbody>
</table>
<p>&rarr; {{.Verdict}}</p>
{{- end}}
{{end}}{{end}}`

// groupSections gathers the paths that name a group, a section per group
// in name order.
func groupSections(paths []PathStatus) []groupSection {
	byGroup := map[string][]PathStatus{}
	for _, ps := range paths {
		if g := ps.Info.Group; g != "" {
			byGroup[g] = append(byGroup[g], ps)
		}
	}
	var out []groupSection
	for _, name := range slices.Sorted(maps.Keys(byGroup)) {
		members := byGroup[name]
		slices.SortStableFunc(members, func(a, b PathStatus) int {
			return cmp.Or(cmp.Compare(a.Info.Order, b.Info.Order), cmp.Compare(a.Info.Name, b.Info.Name))
		})
		out = append(out, groupSectionOf(name, members))
	}
	return out
}

// groupSectionOf compares the latest results of one group's paths.
func groupSectionOf(name string, members []PathStatus) groupSection {
	sec := groupSection{Name: name}
	entries := make([]compare.Entry, len(members))
	var shortest *plan.Result
	for i, ps := range members {
		var r plan.Result // not measured yet: no status, left out
		if ps.Result != nil {
			r = *ps.Result
		}
		entries[i] = compare.Entry{Name: ps.Info.Name, Result: r}
		if compare.Measured(r) && r.Found && (shortest == nil || r.Upper < shortest.Upper) {
			shortest = ps.Result
		}
		row := groupRow{Name: ps.Info.Name, Link: pathURL(ps.Info.Name), Family: "any", Limit: "not measured yet"}
		if ps.Info.Family != "" {
			row.Family = prober.FamilyName(ps.Info.Family)
		}
		if ps.Result != nil {
			row.Limit = compare.Short(r)
		}
		sec.Rows = append(sec.Rows, row)
	}
	for i, ps := range members {
		if shortest != nil && ps.Result != nil && compare.Measured(*ps.Result) && ps.Result.Found && ps.Result.Upper == shortest.Upper {
			sec.Rows[i].Shortest = true
		}
	}
	sec.Verdict = compare.Judge(entries).Text
	return sec
}
