package check

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// workload is a pod template with the object that owns it.
type workload struct {
	kind, name string
	selector   *metav1.LabelSelector
	template   corev1.PodTemplateSpec
	claims     []corev1.PersistentVolumeClaim
}

func workloads(r rendered) []workload {
	var out []workload
	for _, d := range all[*appsv1.DaemonSet](r) {
		out = append(out, workload{"DaemonSet", d.Name, d.Spec.Selector, d.Spec.Template, nil})
	}
	for _, s := range all[*appsv1.StatefulSet](r) {
		out = append(out, workload{"StatefulSet", s.Name, s.Spec.Selector, s.Spec.Template, s.Spec.VolumeClaimTemplates})
	}
	for _, d := range all[*appsv1.Deployment](r) {
		out = append(out, workload{"Deployment", d.Name, d.Spec.Selector, d.Spec.Template, nil})
	}
	return out
}

// matching returns the workloads whose pods sel selects.
func matching(t *testing.T, ws []workload, sel *metav1.LabelSelector) []workload {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatalf("selector %v: %v", sel, err)
	}
	var out []workload
	for _, w := range ws {
		if !s.Empty() && s.Matches(labels.Set(w.template.Labels)) {
			out = append(out, w)
		}
	}
	return out
}

// hasPort reports whether a container of one of ws has port p (a number
// or a name).
func hasPort(ws []workload, p intstr.IntOrString) bool {
	for _, w := range ws {
		for _, c := range w.template.Spec.Containers {
			for _, cp := range c.Ports {
				if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
					return true
				}
			}
		}
	}
	return false
}

// TestRenderDecodesStrictly renders every mode and decodes every object
// into its Kubernetes or prometheus-operator type, unknown fields being
// errors; a broken object proves the decoding is strict.
func TestRenderDecodesStrictly(t *testing.T) {
	for _, mode := range modes(t) {
		t.Run(mode, func(t *testing.T) {
			r := render(t, mode)
			if len(r.objects) < 5 {
				t.Fatalf("only %d objects rendered", len(r.objects))
			}
			t.Logf("%s: %d objects: %s", mode, len(r.objects), r.kinds())
		})
	}
	_, err := decode([]byte("apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      containers:\n        - name: a\n          imagePullPolicy: Always\n          readOnlyRootFileSystem: true\n"))
	if err == nil || !strings.Contains(err.Error(), "readOnlyRootFileSystem") {
		t.Errorf("a misspelt field decoded without error: %v", err)
	}
	if _, err := decode([]byte("apiVersion: v1\nkind: Secret\nmetadata: {name: x}\n")); err == nil {
		t.Error("an unexpected kind (Secret) was accepted")
	}
}

// TestSecurityAndResources: every pod and container runs non-root with a
// read-only root filesystem, no capabilities, no privilege escalation and
// seccomp RuntimeDefault, with no service account token, and has memory
// requests and limits.
func TestSecurityAndResources(t *testing.T) {
	for _, mode := range modes(t) {
		t.Run(mode, func(t *testing.T) {
			for _, w := range workloads(render(t, mode)) {
				ps := w.template.Spec
				psc := ps.SecurityContext
				if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
					t.Errorf("%s %s: pod securityContext %+v is not non-root", w.kind, w.name, psc)
				}
				if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
					t.Errorf("%s %s: pod seccomp profile is not RuntimeDefault", w.kind, w.name)
				}
				if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
					t.Errorf("%s %s: the service account token is mounted", w.kind, w.name)
				}
				if ps.HostNetwork || ps.HostPID || ps.HostIPC {
					t.Errorf("%s %s: uses a host namespace", w.kind, w.name)
				}
				for _, c := range append(slices.Clone(ps.InitContainers), ps.Containers...) {
					sc := c.SecurityContext
					switch {
					case sc == nil:
						t.Errorf("%s %s/%s: no securityContext", w.kind, w.name, c.Name)
						continue
					case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
						t.Errorf("%s %s/%s: allowPrivilegeEscalation is not false", w.kind, w.name, c.Name)
					case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
						t.Errorf("%s %s/%s: the root filesystem is writable", w.kind, w.name, c.Name)
					case sc.Privileged != nil && *sc.Privileged:
						t.Errorf("%s %s/%s: privileged", w.kind, w.name, c.Name)
					case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0:
						t.Errorf("%s %s/%s: capabilities %+v, want drop ALL and add none", w.kind, w.name, c.Name, sc.Capabilities)
					case sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
						t.Errorf("%s %s/%s: seccomp profile is not RuntimeDefault", w.kind, w.name, c.Name)
					}
					req, lim := c.Resources.Requests, c.Resources.Limits
					if req.Memory().IsZero() || req.Cpu().IsZero() || lim.Memory().IsZero() {
						t.Errorf("%s %s/%s: resources %+v, want cpu and memory requests and a memory limit", w.kind, w.name, c.Name, c.Resources)
					}
					if lim.Memory().Cmp(*req.Memory()) < 0 {
						t.Errorf("%s %s/%s: memory limit below the request", w.kind, w.name, c.Name)
					}
				}
			}
		})
	}
}

// TestReferences: what refers to something by name or selector finds it:
// workload selectors their own pods, Services, NetworkPolicies and
// PodDisruptionBudgets some pods and their named ports, the ServiceMonitor
// a Service and its port, volume mounts a volume, pods a ConfigMap and a
// ServiceAccount that are rendered.
func TestReferences(t *testing.T) {
	for _, mode := range modes(t) {
		t.Run(mode, func(t *testing.T) {
			r := render(t, mode)
			ws := workloads(r)
			configMaps, accounts := map[string]bool{}, map[string]bool{}
			for _, cm := range all[*corev1.ConfigMap](r) {
				configMaps[cm.Name] = true
			}
			for _, sa := range all[*corev1.ServiceAccount](r) {
				accounts[sa.Name] = true
			}
			for _, w := range ws {
				if m := matching(t, []workload{w}, w.selector); len(m) != 1 {
					t.Errorf("%s %s: its selector does not select its own pod template", w.kind, w.name)
				}
				if !accounts[w.template.Spec.ServiceAccountName] {
					t.Errorf("%s %s: service account %q is not rendered", w.kind, w.name, w.template.Spec.ServiceAccountName)
				}
				volumes := map[string]bool{}
				for _, v := range w.template.Spec.Volumes {
					volumes[v.Name] = true
					if v.ConfigMap != nil && !configMaps[v.ConfigMap.Name] {
						t.Errorf("%s %s: volume %s uses ConfigMap %q, not rendered", w.kind, w.name, v.Name, v.ConfigMap.Name)
					}
				}
				for _, c := range w.claims {
					volumes[c.Name] = true
				}
				for _, c := range w.template.Spec.Containers {
					for _, m := range c.VolumeMounts {
						if !volumes[m.Name] {
							t.Errorf("%s %s/%s: mounts %q, which is no volume", w.kind, w.name, c.Name, m.Name)
						}
					}
				}
			}
			services := all[*corev1.Service](r)
			for _, s := range services {
				sel := &metav1.LabelSelector{MatchLabels: s.Spec.Selector}
				m := matching(t, ws, sel)
				if len(m) == 0 {
					t.Errorf("Service %s selects no pods", s.Name)
				}
				for _, p := range s.Spec.Ports {
					if !hasPort(m, p.TargetPort) {
						t.Errorf("Service %s: targetPort %s is no port of its pods", s.Name, p.TargetPort.String())
					}
				}
			}
			for _, sm := range all[*monitoringv1.ServiceMonitor](r) {
				found := false
				for _, s := range services {
					sel, _ := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
					if !sel.Matches(labels.Set(s.Labels)) || !slices.Contains(sm.Spec.NamespaceSelector.MatchNames, s.Namespace) {
						continue
					}
					for _, ep := range sm.Spec.Endpoints {
						for _, p := range s.Spec.Ports {
							if p.Name == ep.Port {
								found = true
							}
						}
					}
				}
				if !found {
					t.Errorf("ServiceMonitor %s finds no Service with its port", sm.Name)
				}
			}
			for _, np := range all[*networkingv1.NetworkPolicy](r) {
				m := matching(t, ws, &np.Spec.PodSelector)
				if len(m) == 0 {
					t.Errorf("NetworkPolicy %s selects no pods", np.Name)
				}
				for _, rule := range np.Spec.Ingress {
					for _, p := range rule.Ports {
						if p.Port != nil && !hasPort(m, *p.Port) {
							t.Errorf("NetworkPolicy %s: port %s is no port of its pods", np.Name, p.Port.String())
						}
					}
				}
			}
			for _, pdb := range all[*policyv1.PodDisruptionBudget](r) {
				if len(matching(t, ws, pdb.Spec.Selector)) == 0 {
					t.Errorf("PodDisruptionBudget %s selects no pods", pdb.Name)
				}
			}
		})
	}
}

// container returns the container named name of w.
func container(t *testing.T, w workload, name string) corev1.Container {
	t.Helper()
	for _, c := range w.template.Spec.Containers {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("%s %s has no container %q", w.kind, w.name, name)
	return corev1.Container{}
}

// fieldEnv returns the downward API field of env var name in c.
func fieldEnv(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			return e.ValueFrom.FieldRef.FieldPath
		}
	}
	return ""
}

// expand replaces $(VAR) references as the kubelet does.
func expand(args []string, env map[string]string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		for k, v := range env {
			a = strings.ReplaceAll(a, "$("+k+")", v)
		}
		out[i] = a
	}
	return out
}

// checkServeArgs runs the real idleprobe with the serve container's
// arguments (the downward API values filled in as the kubelet would, the
// config file taken from the rendered ConfigMap) and --config.check: the
// flags and the config are accepted.
func checkServeArgs(t *testing.T, r rendered, c corev1.Container, env map[string]string) {
	t.Helper()
	config := configFile(t, r)
	file := filepath.Join(t.TempDir(), "idleprobe.yml")
	if err := os.WriteFile(file, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	args := expand(c.Args, env)
	for i, a := range args {
		if strings.HasPrefix(a, "--config.file=") {
			args[i] = "--config.file=" + file
		}
	}
	if len(args) == 0 || args[0] != "serve" {
		t.Fatalf("container %s args %q do not start with serve", c.Name, c.Args)
	}
	out, err := exec.Command(tools.idleprobe, append(args, "--config.check")...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "OK") {
		t.Errorf("idleprobe %s --config.check: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestDaemonSet: serve runs on every node and labels every series with the
// node name from the downward API; idleprobe accepts its flags and config;
// the sidecar reloads through /-/reload on serve's port.
func TestDaemonSet(t *testing.T) {
	r := render(t, "daemonset")
	ds := all[*appsv1.DaemonSet](r)
	if len(ds) != 1 || len(all[*appsv1.StatefulSet](r)) != 0 {
		t.Fatalf("%s: want one DaemonSet and no StatefulSet", r.kinds())
	}
	w := workloads(r)[0]
	c := container(t, w, "idleprobe")
	if f := fieldEnv(c, "NODE_NAME"); f != "spec.nodeName" {
		t.Errorf("NODE_NAME comes from %q, want spec.nodeName", f)
	}
	if !slices.Contains(c.Args, "--label=node=$(NODE_NAME)") {
		t.Errorf("args %q lack --label=node=$(NODE_NAME)", c.Args)
	}
	checkServeArgs(t, r, c, map[string]string{"NODE_NAME": "worker-1", "POD_NAME": w.name + "-x7k2p"})

	reloader := container(t, w, "config-reloader")
	port := c.Ports[0].ContainerPort
	if want := "--webhook-url=http://127.0.0.1:" + itoa(port) + "/-/reload"; !slices.Contains(reloader.Args, want) {
		t.Errorf("reloader args %q lack %s", reloader.Args, want)
	}
	if len(reloader.VolumeMounts) != 1 || reloader.VolumeMounts[0].MountPath != c.VolumeMounts[0].MountPath {
		t.Errorf("the reloader does not watch the config directory: %+v", reloader.VolumeMounts)
	}
	if _, ok := w.template.Annotations["checksum/config"]; ok {
		t.Error("sidecar mode also rolls the pods on a config change")
	}
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// TestSharded: a StatefulSet of TOTAL replicas behind a headless Service,
// each pod passing --shard=$(POD_NAME)/TOTAL, which idleprobe accepts for
// every ordinal; with checksum reload, the pods' annotation is the config's
// checksum; each replica has its own volume.
func TestSharded(t *testing.T) {
	r := render(t, "sharded")
	sts := all[*appsv1.StatefulSet](r)
	if len(sts) != 1 || len(all[*appsv1.DaemonSet](r)) != 0 {
		t.Fatalf("%s: want one StatefulSet and no DaemonSet", r.kinds())
	}
	s := sts[0]
	total := *s.Spec.Replicas
	if total != 4 {
		t.Errorf("replicas %d, want the 4 shards of ci/sharded-values.yaml", total)
	}
	headless := false
	for _, svc := range all[*corev1.Service](r) {
		headless = headless || (svc.Name == s.Spec.ServiceName && svc.Spec.ClusterIP == corev1.ClusterIPNone)
	}
	if !headless {
		t.Errorf("serviceName %q is no headless Service of the chart", s.Spec.ServiceName)
	}
	w := workloads(r)[0]
	c := container(t, w, "idleprobe")
	if f := fieldEnv(c, "POD_NAME"); f != "metadata.name" {
		t.Errorf("POD_NAME comes from %q, want metadata.name", f)
	}
	if want := "--shard=$(POD_NAME)/" + itoa(total); !slices.Contains(c.Args, want) {
		t.Errorf("args %q lack %s", c.Args, want)
	}
	for i := range total {
		checkServeArgs(t, r, c, map[string]string{"NODE_NAME": "worker-1", "POD_NAME": s.Name + "-" + itoa(i)})
	}
	if slices.ContainsFunc(w.template.Spec.Containers, func(c corev1.Container) bool { return c.Name == "config-reloader" }) {
		t.Error("checksum mode also runs the reloader sidecar")
	}
	sum := sha256.Sum256([]byte(configFile(t, r)))
	if got := w.template.Annotations["checksum/config"]; got != hex.EncodeToString(sum[:]) {
		t.Errorf("checksum/config %q is not the sha256 of the ConfigMap's idleprobe.yml", got)
	}
	if len(s.Spec.VolumeClaimTemplates) != 1 || s.Spec.VolumeClaimTemplates[0].Name != "data" {
		t.Errorf("want a data volume claim per replica, got %+v", s.Spec.VolumeClaimTemplates)
	}
	if len(all[*policyv1.PodDisruptionBudget](r)) != 2 {
		t.Errorf("%s: want PodDisruptionBudgets for the shards and the responder", r.kinds())
	}
}

// TestResponderOnly: without serve only the responder renders, with its
// ClusterIP and NodePort Services on the configured ports, and a
// NetworkPolicy that lets nothing out.
func TestResponderOnly(t *testing.T) {
	r := render(t, "responder")
	if n := len(all[*appsv1.DaemonSet](r)) + len(all[*appsv1.StatefulSet](r)) + len(all[*corev1.ConfigMap](r)) + len(all[*monitoringv1.ServiceMonitor](r)); n != 0 {
		t.Errorf("%s: serve objects rendered with serve.mode none", r.kinds())
	}
	deps := all[*appsv1.Deployment](r)
	if len(deps) != 1 || deps[0].Spec.Template.Spec.Containers[0].Args[0] != "responder" {
		t.Fatalf("%s: want one responder Deployment", r.kinds())
	}
	types := map[corev1.ServiceType][]int32{}
	for _, s := range all[*corev1.Service](r) {
		for _, p := range s.Spec.Ports {
			types[s.Spec.Type] = append(types[s.Spec.Type], p.NodePort)
		}
	}
	if len(types[corev1.ServiceTypeClusterIP]) != 2 || !slices.Equal(types[corev1.ServiceTypeNodePort], []int32{30080, 30090}) {
		t.Errorf("services %v, want a ClusterIP with two ports and a NodePort on 30080, 30090", types)
	}
	nps := all[*networkingv1.NetworkPolicy](r)
	if len(nps) != 1 || len(nps[0].Spec.Egress) != 0 || !slices.Contains(nps[0].Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
		t.Errorf("want one NetworkPolicy denying all egress of the responder, got %d", len(nps))
	}
}

// TestRulesAreConfigsAlerts: the PrometheusRule's groups are
// configs/alerts/idleprobe.rules.yml, not a copy that could drift.
func TestRulesAreConfigsAlerts(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(repoRoot, "configs", "alerts", "idleprobe.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var want monitoringv1.PrometheusRuleSpec
	if err := yaml.UnmarshalStrict(src, &want); err != nil {
		t.Fatalf("configs/alerts/idleprobe.rules.yml as a PrometheusRule spec: %v", err)
	}
	if len(want.Groups) == 0 || len(want.Groups[0].Rules) == 0 {
		t.Fatal("configs/alerts/idleprobe.rules.yml has no rules")
	}
	// The packaged chart (helm package copies the linked file) renders
	// the same rules as the chart directory.
	pkgDir := t.TempDir()
	if out, err := exec.Command(tools.helm, "package", "--destination", pkgDir, chartDir).CombinedOutput(); err != nil {
		t.Fatalf("helm package: %v\n%s", err, out)
	}
	pkgs, _ := filepath.Glob(filepath.Join(pkgDir, "*.tgz"))
	if len(pkgs) != 1 {
		t.Fatalf("helm package wrote %v", pkgs)
	}
	sources := map[string]rendered{"daemonset": render(t, "daemonset"), "sharded": render(t, "sharded")}
	packaged, err := decode(helmTemplateChart(t, pkgs[0]))
	if err != nil {
		t.Fatal(err)
	}
	sources["packaged chart"] = packaged
	for name, r := range sources {
		rules := all[*monitoringv1.PrometheusRule](r)
		if len(rules) != 1 {
			t.Fatalf("%s: %d PrometheusRules, want 1", name, len(rules))
		}
		if !reflect.DeepEqual(rules[0].Spec, want) {
			t.Errorf("%s: the rendered rules differ from configs/alerts/idleprobe.rules.yml", name)
		}
	}
}

// configFile returns idleprobe.yml of the rendered ConfigMaps.
func configFile(t *testing.T, r rendered) string {
	t.Helper()
	var found []string
	for _, cm := range all[*corev1.ConfigMap](r) {
		if c, ok := cm.Data["idleprobe.yml"]; ok {
			found = append(found, c)
		}
	}
	if len(found) != 1 || found[0] == "" {
		t.Fatalf("%d ConfigMaps with idleprobe.yml, want 1", len(found))
	}
	return found[0]
}

// TestDashboardIsDeployGrafana: the dashboard ConfigMap holds
// deploy/grafana/idleprobe.json byte for byte, labelled for Grafana's
// sidecar.
func TestDashboardIsDeployGrafana(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("..", "grafana", "idleprobe.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"daemonset", "sharded"} {
		var found int
		for _, cm := range all[*corev1.ConfigMap](render(t, mode)) {
			got, ok := cm.Data["idleprobe.json"]
			if !ok {
				continue
			}
			found++
			if got != string(want) {
				t.Errorf("%s: ConfigMap %s differs from deploy/grafana/idleprobe.json", mode, cm.Name)
			}
			if cm.Labels["grafana_dashboard"] != "1" {
				t.Errorf("%s: ConfigMap %s lacks the label grafana_dashboard=1: %v", mode, cm.Name, cm.Labels)
			}
		}
		if found != 1 {
			t.Errorf("%s: %d dashboard ConfigMaps, want 1", mode, found)
		}
	}
}

// TestBadValues: values the chart cannot honour fail the render with a
// message naming the value.
func TestBadValues(t *testing.T) {
	needTools(t)
	for _, tc := range []struct{ set, want string }{
		{"serve.mode=replicated", `serve.mode: "replicated" is not one of daemonset, sharded, none`},
		{"serve.configReload=inotify", `serve.configReload: "inotify" is not one of sidecar, checksum, none`},
		{"serve.mode=sharded,serve.shards=0", "serve.shards: 0 must be at least 1"},
	} {
		cmd := exec.Command(tools.helm, "template", release, chartDir, "--kube-version", kubeVersion, "--set", tc.set)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("--set %s: %v, output lacks %q:\n%s", tc.set, err, tc.want, out)
		}
	}
}
