package exporters

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The shipped alert rules and their promtool unit tests.
var (
	rulesFile     = filepath.Join("..", "configs", "alerts", "idleprobe.rules.yml")
	rulesTestFile = filepath.Join("..", "configs", "alerts", "idleprobe.rules.test.yml")
	metricsDoc    = filepath.Join("..", "METRICS.md")
)

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// alertNames returns the alerts defined in the rules file.
func alertNames(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^\s*- alert: (\w+)\s*$`).FindAllStringSubmatch(readFile(t, rulesFile), -1) {
		names = append(names, m[1])
	}
	if len(names) == 0 {
		t.Fatalf("%s defines no alerts", rulesFile)
	}
	return names
}

func TestPromtoolCheckRules(t *testing.T) {
	bin := promtool(t)
	out, err := exec.Command(bin, "check", "rules", rulesFile).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", rulesFile, err, out)
	}
	if want := "SUCCESS: " + strconv.Itoa(len(alertNames(t))) + " rules found"; !strings.Contains(string(out), want) {
		t.Errorf("promtool check rules said %q, want %q", out, want)
	}
}

func TestPromtoolTestRules(t *testing.T) {
	bin := promtool(t)
	cmd := exec.Command(bin, "test", "rules", filepath.Base(rulesTestFile))
	cmd.Dir = filepath.Dir(rulesTestFile)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "SUCCESS") {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// TestAlertsTestedBothWays checks that the unit tests make every alert fire
// somewhere and stay silent somewhere else.
func TestAlertsTestedBothWays(t *testing.T) {
	tests := readFile(t, rulesTestFile)
	for _, name := range alertNames(t) {
		t.Run(name, func(t *testing.T) {
			quiet := regexp.MustCompile(`alertname: ` + name + `\s+exp_alerts: \[\]`)
			firing := regexp.MustCompile(`alertname: ` + name + `\s+exp_alerts:\s*\n\s+- exp_labels`)
			if !quiet.MatchString(tests) {
				t.Errorf("no test case where %s must not fire", name)
			}
			if !firing.MatchString(tests) {
				t.Errorf("no test case where %s fires", name)
			}
		})
	}
}

// TestRulesUseExportedMetrics guards against a renamed metric leaving an
// alert that can never fire.
func TestRulesUseExportedMetrics(t *testing.T) {
	fams := Families()
	for _, m := range regexp.MustCompile(`idleprobe_[a-z_]+`).FindAllString(readFile(t, rulesFile), -1) {
		if !slices.Contains(fams, m) {
			t.Errorf("%s uses %s, which the collector does not export", rulesFile, m)
		}
	}
}

// TestMetricsDoc checks that METRICS.md documents every metric and alert.
func TestMetricsDoc(t *testing.T) {
	doc := readFile(t, metricsDoc)
	for _, name := range Families() {
		if !strings.Contains(doc, "`"+name+"`") {
			t.Errorf("METRICS.md does not document %s", name)
		}
	}
	for _, name := range alertNames(t) {
		if !strings.Contains(doc, name) {
			t.Errorf("METRICS.md does not describe alert %s", name)
		}
	}
}
