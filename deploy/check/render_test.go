package check

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// The chart, the repository root, and the Kubernetes version the chart is
// rendered for (helm built from source defaults to an old one).
var (
	chartDir    = filepath.Join("..", "helm", "idleprobe")
	repoRoot    = filepath.Join("..", "..")
	kubeVersion = "1.33.0"
	namespace   = "probes"
	release     = "idleprobe"
)

// tools are the helm and idleprobe binaries the tests run, set by TestMain.
var tools struct {
	helm, idleprobe string
	skip            string // why the tests cannot run, when they cannot
}

// TestMain finds helm ($HELM or the PATH) and builds idleprobe from the
// repository. Without helm the tests skip, except with CI=true, where they
// fail.
func TestMain(m *testing.M) {
	os.Exit(func() int {
		tools.helm = os.Getenv("HELM")
		if tools.helm == "" {
			tools.helm, _ = exec.LookPath("helm")
		}
		if tools.helm == "" {
			tools.skip = "helm not found (set HELM or put it on the PATH; .ci/run installs it)"
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "idleprobe-check-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		tools.idleprobe = filepath.Join(dir, "idleprobe")
		build := exec.Command("go", "build", "-o", tools.idleprobe, "./cmd/idleprobe")
		build.Dir = repoRoot
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building idleprobe: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}())
}

// needTools skips (or, in CI, fails) when helm is missing.
func needTools(t *testing.T) {
	t.Helper()
	if tools.skip == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(tools.skip)
	}
	t.Skip(tools.skip)
}

// object is one rendered object decoded into its Go type.
type object struct {
	kind, name string
	obj        any
	source     string // the rendered YAML, for error messages
}

// rendered holds the objects of one `helm template`.
type rendered struct {
	objects []object
}

// newObject returns a new Go value for apiVersion and kind, or nil when
// the chart is not expected to render that type.
func newObject(apiVersion, kind string) any {
	switch apiVersion + "/" + kind {
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}
	case "v1/Service":
		return &corev1.Service{}
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}
	case "apps/v1/DaemonSet":
		return &appsv1.DaemonSet{}
	case "apps/v1/StatefulSet":
		return &appsv1.StatefulSet{}
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}
	case "networking.k8s.io/v1/NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "monitoring.coreos.com/v1/ServiceMonitor":
		return &monitoringv1.ServiceMonitor{}
	case "monitoring.coreos.com/v1/PrometheusRule":
		return &monitoringv1.PrometheusRule{}
	}
	return nil
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// decode splits a multi-document YAML stream and decodes every object
// strictly: unknown or duplicate fields and unexpected kinds are errors.
func decode(stream []byte) (rendered, error) {
	var r rendered
	for _, doc := range docSep.Split(string(stream), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			return r, fmt.Errorf("not YAML: %v\n%s", err, doc)
		}
		obj := newObject(tm.APIVersion, tm.Kind)
		if obj == nil {
			return r, fmt.Errorf("unexpected object %s %s:\n%s", tm.APIVersion, tm.Kind, doc)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			return r, fmt.Errorf("%s does not decode strictly into %T: %v\n%s", tm.Kind, obj, err, doc)
		}
		name := obj.(metav1.Object).GetName()
		r.objects = append(r.objects, object{kind: tm.Kind, name: name, obj: obj, source: doc})
	}
	return r, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.SplitSeq(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// helmTemplate renders the chart with the given values files and --set
// arguments.
func helmTemplate(t *testing.T, args ...string) []byte {
	t.Helper()
	return helmTemplateChart(t, chartDir, args...)
}

// helmTemplateChart renders chart (a directory or a packaged .tgz).
func helmTemplateChart(t *testing.T, chart string, args ...string) []byte {
	t.Helper()
	needTools(t)
	cmd := exec.Command(tools.helm, append([]string{"template", release, chart,
		"--namespace", namespace, "--kube-version", kubeVersion}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// render renders one mode (a values file of the chart's ci/ folder) and
// decodes it.
func render(t *testing.T, mode string) rendered {
	t.Helper()
	r, err := decode(helmTemplate(t, "-f", filepath.Join(chartDir, "ci", mode+"-values.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// modes are the values files in the chart's ci/ folder.
func modes(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no values files in %s/ci: %v", chartDir, err)
	}
	var out []string
	for _, f := range files {
		out = append(out, strings.TrimSuffix(filepath.Base(f), "-values.yaml"))
	}
	sort.Strings(out)
	return out
}

// all returns the objects of type T.
func all[T any](r rendered) []T {
	var out []T
	for _, o := range r.objects {
		if v, ok := o.obj.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// kinds lists the kinds rendered, sorted, with counts.
func (r rendered) kinds() string {
	n := map[string]int{}
	for _, o := range r.objects {
		n[o.kind]++
	}
	var out []string
	for k, v := range n {
		out = append(out, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}
