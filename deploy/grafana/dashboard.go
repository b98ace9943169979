package main

import (
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/statetimeline"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// UID is the dashboard's stable identifier (links and provisioning use it).
const UID = "idleprobe"

// ds is the Prometheus data source every panel and variable queries: the
// dashboard's own "datasource" variable.
var ds = common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}

// sel is the label selector of every per-path query: the chosen paths and
// nodes. node=~".*" also matches series without a node label, so the
// dashboard works whether or not idleprobe runs once per node.
func sel(extra ...string) string {
	return "{" + strings.Join(append([]string{`path=~"$path"`, `node=~"$node"`}, extra...), ", ") + "}"
}

// by is the legend of a per-path series: the path, and the node when the
// series has one.
const by = "{{path}} {{node}}"

func query(ref, expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().Datasource(ds).RefId(ref).Expr(expr).LegendFormat(legend).Range()
}

// dashed draws the series whose names match re as dashed lines.
func dashed(re string) (string, []dashboard.DynamicConfigValue) {
	return re, []dashboard.DynamicConfigValue{
		{Id: "custom.lineStyle", Value: common.LineStyle{Fill: cog.ToPtr(common.LineStyleFillDash), Dash: []float64{10, 6}}},
		{Id: "custom.lineWidth", Value: 2},
	}
}

func thresholds(base string, steps ...dashboard.Threshold) *dashboard.ThresholdsConfigBuilder {
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).
		Steps(append([]dashboard.Threshold{{Color: base}}, steps...))
}

func valueText(m map[string][2]string) []dashboard.ValueMapping {
	opts := map[string]dashboard.ValueMappingResult{}
	for v, tc := range m {
		opts[v] = dashboard.ValueMappingResult{Text: cog.ToPtr(tc[0]), Color: cog.ToPtr(tc[1])}
	}
	return []dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{Type: dashboard.MappingTypeValueToText, Options: opts}}}
}

// Dashboard builds the idleprobe dashboard in Grafana's classic JSON model,
// the one every Grafana version imports (the SDK's dashboardv2 is the
// Grafana 12 resource format, which older versions cannot read).
//
//lint:ignore SA1019 the classic model is deliberate, see above
func Dashboard() (dashboard.Dashboard, error) {
	limit := timeseries.NewPanelBuilder().
		Title("Idle limit per path and node, with the client idle timeout").
		Description("The bracket (lower, upper] of the latest published measurement of each path (upper is absent when no limit was found up to max), and the configured client_idle_timeout as a dashed line: a client whose idle timeout reaches the lower bound reuses connections the path has killed (502s).").
		Datasource(ds).Unit("s").Min(0).Height(10).Span(24).
		WithTarget(query("A", "idleprobe_idle_limit_seconds"+sel(`bound="lower"`), by+" lower bound")).
		WithTarget(query("B", "idleprobe_idle_limit_seconds"+sel(`bound="upper"`), by+" upper bound")).
		WithTarget(query("C", "idleprobe_client_idle_timeout_seconds"+sel(), by+" client idle timeout")).
		OverrideByRegexp(dashed(".*client idle timeout"))

	margin := stat.NewPanelBuilder().
		Title("Margin: limit minus client idle timeout").
		Description("Lower bound of the limit minus client_idle_timeout. Red at or below 0: the client may reuse connections the path has already killed (IdleprobeClientIdleTimeoutAboveLimit fires).").
		Datasource(ds).Unit("s").Height(6).Span(8).
		WithTarget(query("A", "idleprobe_client_idle_margin_seconds"+sel(), by)).
		Thresholds(thresholds("red", dashboard.Threshold{Value: cog.ToPtr(0.001), Color: "green"}))

	modeKind := table.NewPanelBuilder().
		Title("Mode and kind").
		Description("How the path kills connections at the limit (reset, closed_idle, closed_on_reuse, dropped; none when no limit was found) and which clock the limit runs on (idle, or lifetime: connection age).").
		Datasource(ds).Height(6).Span(8).
		WithTarget(query("A", "idleprobe_idle_limit_info"+sel(), by).Instant().Format(prometheus.PromQueryFormatTable)).
		WithTransformation(dashboard.DataTransformerConfig{Id: "organize", Options: map[string]any{
			"excludeByName": map[string]bool{"Time": true, "Value": true, "__name__": true},
		}})

	rescue := stat.NewPanelBuilder().
		Title("TCP keepalive rescue").
		Description("Whether TCP keepalive at the client's settings (tcp_keepalive) keeps the path alive past its limit. Only paths with tcp_keepalive that found a limit.").
		Datasource(ds).Height(6).Span(8).
		WithTarget(query("A", "idleprobe_keepalive_rescues"+sel(), by)).
		Mappings(valueText(map[string][2]string{"1": {"rescues", "green"}, "0": {"does NOT rescue", "red"}}))

	duration := timeseries.NewPanelBuilder().
		Title("Measurement duration").
		Description("Wall time of the latest published measurement of each path (the parallel search takes about 1.1 x the limit).").
		Datasource(ds).Unit("s").Min(0).Height(8).Span(12).
		WithTarget(query("A", "idleprobe_measurement_duration_seconds"+sel(), by))

	results := timeseries.NewPanelBuilder().
		Title("Measurements by result").
		Description("Measurements that ended, by result: success (published), failure (inconclusive or unusable: the previous result stays published), cancelled.").
		Datasource(ds).Min(0).Height(8).Span(12).DrawStyle(common.GraphDrawStyleBars).
		WithTarget(query("A", "sum by (path, node, result) (increase(idleprobe_measurements_total"+sel()+"[$__rate_interval]))", by+" {{result}}")).
		OverrideByRegexp(".*failure", []dashboard.DynamicConfigValue{{Id: "color", Value: map[string]string{"mode": "fixed", "fixedColor": "red"}}})

	inProgress := statetimeline.NewPanelBuilder().
		Title("In progress").
		Description("When each path was being measured.").
		Datasource(ds).Height(6).Span(12).
		WithTarget(query("A", "idleprobe_measurement_in_progress"+sel(), by)).
		Mappings(valueText(map[string][2]string{"1": {"measuring", "blue"}, "0": {"idle", "transparent"}}))

	conns := timeseries.NewPanelBuilder().
		Title("Trial connections and the cap").
		Description("Trial connections open across all paths, and the max_connections cap (dashed; 0: none).").
		Datasource(ds).Min(0).Height(6).Span(12).
		WithTarget(query("A", `idleprobe_trial_connections{node=~"$node"}`, "{{instance}} {{node}} open")).
		WithTarget(query("B", `idleprobe_trial_connections_limit{node=~"$node"}`, "{{instance}} {{node}} cap")).
		OverrideByRegexp(dashed(".* cap"))

	trials := timeseries.NewPanelBuilder().
		Title("Trials by outcome").
		Description("Trials run per second, by outcome (ok, reset, closed_idle, closed_on_reuse, dropped, slow, error).").
		Datasource(ds).Unit("ops").Min(0).Height(8).Span(12).
		WithTarget(query("A", "sum by (path, node, outcome) (rate(idleprobe_trials_total"+sel()+"[$__rate_interval]))", by+" {{outcome}}"))

	age := stat.NewPanelBuilder().
		Title("Age of the published result").
		Description("Time since the published measurement of each path ended (IdleprobeMeasurementStale fires past two schedule periods).").
		Datasource(ds).Unit("s").Height(8).Span(12).
		WithTarget(query("A", "time() - idleprobe_last_measurement_success_timestamp_seconds"+sel(), by))

	// groupOf joins a per-path series to its group and family
	// (idleprobe_path_group_info), keeping the paths of the chosen groups.
	groupOf := " * on(path, node) group_left(group, family) idleprobe_path_group_info" + sel(`group=~"$group"`)
	group := timeseries.NewPanelBuilder().
		Title("Paths of a group side by side").
		Description("The paths that reach the same backend through different hops (config group), each path's bracket (lower, upper] of its latest published measurement, with its address family. The hop in front of the first path (nearest the backend, in config order) whose limit is shorter than the paths before it owns that limit; `idleprobe diagnose` says it in words, the landing page too.").
		Datasource(ds).Unit("s").Min(0).Height(10).Span(24).
		WithTarget(query("A", "idleprobe_idle_limit_seconds"+sel(`bound="upper"`)+groupOf, "{{group}}: {{path}} {{node}} upper bound")).
		WithTarget(query("B", "idleprobe_idle_limit_seconds"+sel(`bound="lower"`)+groupOf, "{{group}}: {{path}} {{node}} lower bound")).
		OverrideByRegexp(dashed(".*lower bound"))

	groupVar := dashboard.NewQueryVariableBuilder("group").Label("Group").
		Description("Groups of paths to the same backend (config group); empty when no path names one.").
		Datasource(ds).
		Query(dashboard.StringOrMap{String: cog.ToPtr(`label_values(idleprobe_path_group_info{path=~"$path"}, group)`)}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).IncludeAll(true).AllValue(".*")

	pathVar := dashboard.NewQueryVariableBuilder("path").Label("Path").Datasource(ds).
		Query(dashboard.StringOrMap{String: cog.ToPtr("label_values(idleprobe_path_info, path)")}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).IncludeAll(true).AllValue(".*")
	nodeVar := dashboard.NewQueryVariableBuilder("node").Label("Node").
		Description("The node a DaemonSet replica runs on (the node label); empty when idleprobe does not label its metrics with a node.").
		Datasource(ds).
		Query(dashboard.StringOrMap{String: cog.ToPtr(`label_values(idleprobe_path_info{path=~"$path"}, node)`)}).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).Sort(dashboard.VariableSortAlphabeticalAsc).
		Multi(true).IncludeAll(true).AllValue(".*")

	//lint:ignore SA1019 the classic model is deliberate, see Dashboard
	return dashboard.NewDashboardBuilder("idleprobe").
		Uid(UID).
		Description("Idle limits of network paths measured by idleprobe, per path and node, beside the clients' idle timeouts.").
		Tags([]string{"idleprobe", "network"}).
		Refresh("1m").Time("now-24h", "now").Timezone(common.TimeZoneBrowser).Editable().
		WithVariable(dashboard.NewDatasourceVariableBuilder("datasource").Label("Data source").Type("prometheus")).
		WithVariable(pathVar).
		WithVariable(nodeVar).
		WithVariable(groupVar).
		WithRow(dashboard.NewRowBuilder("Limits")).
		WithPanel(limit).
		WithPanel(margin).WithPanel(modeKind).WithPanel(rescue).
		WithRow(dashboard.NewRowBuilder("Measurements")).
		WithPanel(duration).WithPanel(results).
		WithPanel(inProgress).WithPanel(conns).
		WithPanel(trials).WithPanel(age).
		WithRow(dashboard.NewRowBuilder("Groups")).
		WithPanel(group).
		Build()
}
