// Package kubernetes holds patchwell's Kubernetes manifests (the YAML
// files here) and their test: each document is decoded strictly into
// the Kubernetes API's own Go types (k8s.io/api), so that a misspelt
// field fails the build, and what refers to what (selectors, ports,
// probes, secrets, the configuration file) is checked to agree.
package kubernetes

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"patchwell/internal/conffile"
)

// kustomization is the part of kustomize's Kustomization these
// manifests use (kustomize's Go types are not a dependency worth
// taking); decoded strictly as well.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Labels     []struct {
		Pairs            map[string]string `json:"pairs"`
		IncludeSelectors bool              `json:"includeSelectors,omitempty"`
	} `json:"labels"`
	Resources []string `json:"resources"`
	Images    []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
	} `json:"images"`
}

type manifests struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	configMaps  map[string]*corev1.ConfigMap
	secrets     map[string]*corev1.Secret
	pdbs        map[string]*policyv1.PodDisruptionBudget
}

// load decodes every document of every resource strictly.
func load(t *testing.T) (*kustomization, *manifests) {
	t.Helper()
	raw, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(raw, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml: %s %s", k.APIVersion, k.Kind)
	}
	files, _ := filepath.Glob("*.yaml")
	for _, f := range files {
		if f != "kustomization.yaml" && !slices.Contains(k.Resources, f) {
			t.Errorf("%s is not in kustomization.yaml's resources", f)
		}
	}
	m := &manifests{map[string]*appsv1.Deployment{}, map[string]*corev1.Service{}, map[string]*corev1.ConfigMap{},
		map[string]*corev1.Secret{}, map[string]*policyv1.PodDisruptionBudget{}}
	for _, f := range k.Resources {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("resource %s: %v", f, err)
		}
		for i, doc := range bytes.Split(data, []byte("\n---\n")) {
			var head struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Metadata   struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if err := yaml.Unmarshal(doc, &head); err != nil {
				t.Fatalf("%s document %d: %v", f, i+1, err)
			}
			where := fmt.Sprintf("%s document %d (%s %s)", f, i+1, head.Kind, head.Metadata.Name)
			var obj any
			switch head.APIVersion + " " + head.Kind {
			case "apps/v1 Deployment":
				d := &appsv1.Deployment{}
				m.deployments[head.Metadata.Name], obj = d, d
			case "v1 Service":
				s := &corev1.Service{}
				m.services[head.Metadata.Name], obj = s, s
			case "v1 ConfigMap":
				c := &corev1.ConfigMap{}
				m.configMaps[head.Metadata.Name], obj = c, c
			case "v1 Secret":
				s := &corev1.Secret{}
				m.secrets[head.Metadata.Name], obj = s, s
			case "policy/v1 PodDisruptionBudget":
				p := &policyv1.PodDisruptionBudget{}
				m.pdbs[head.Metadata.Name], obj = p, p
			default:
				t.Fatalf("%s: a kind this test does not know: add it", where)
			}
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				t.Errorf("%s: %v", where, err)
			}
		}
	}
	return &k, m
}

// TestManifests decodes the manifests strictly and checks that they fit
// together and fit patchwell.
func TestManifests(t *testing.T) {
	k, m := load(t)
	serve := m.deployments["patchwell"]
	runner := m.deployments["patchwell-runner"]
	cm := m.configMaps["patchwell-config"]
	sec := m.secrets["patchwell-secrets"]
	if serve == nil || runner == nil || cm == nil || sec == nil || len(m.services) == 0 || len(m.pdbs) == 0 {
		t.Fatalf("missing: serve %v, runner %v, config %v, secret %v, %d services, %d budgets",
			serve != nil, runner != nil, cm != nil, sec != nil, len(m.services), len(m.pdbs))
	}

	// The configuration file: valid for this patchwell, and its listeners
	// are the container's ports.
	toml := cm.Data["patchwell.toml"]
	f, err := conffile.Parse("configmap.yaml:patchwell.toml", []byte(toml))
	if err != nil {
		t.Fatal(err)
	}
	conf := map[string]string{}
	for _, e := range f.Entries {
		conf[e.Key] = e.Value
	}
	checkConfig(t, toml)

	// serve: replicas, rolling update, probes, the drain, its config and
	// secret.
	if serve.Spec.Replicas == nil || *serve.Spec.Replicas < 2 {
		t.Errorf("serve replicas %v: two or more", serve.Spec.Replicas)
	}
	if ru := serve.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("serve's rolling update must keep every pod until its replacement is ready (maxUnavailable 0)")
	}
	sel, err := metaSelector(serve.Spec.Selector.MatchLabels)
	if err != nil || !sel.Matches(labels.Set(serve.Spec.Template.Labels)) {
		t.Errorf("serve's selector does not select its pods: %v", err)
	}
	c := container(t, serve, "patchwell")
	if len(c.Args) < 3 || c.Args[0] != "serve" || c.Args[1] != "--config" {
		t.Fatalf("serve's args %q: serve --config FILE", c.Args)
	}
	mountedFrom(t, serve, c, c.Args[2], "configMap", cm.Name, "patchwell.toml")
	drain := duration(t, conf["drain-delay"]) + duration(t, conf["drain-timeout"])
	if g := serve.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= drain {
		t.Errorf("terminationGracePeriodSeconds must exceed drain-delay + drain-timeout (%v)", drain)
	}
	for name, key := range map[string]string{"smtp": "smtp", "http": "http", "imap": "imap", "metrics": "metrics"} {
		p := port(c, name)
		if p == 0 {
			t.Errorf("serve has no container port %s", name)
			continue
		}
		if _, lp, _ := strings.Cut(conf[key], ":"); lp != strconv.Itoa(int(p)) {
			t.Errorf("container port %s is %d, the configuration's %s listens on %q", name, p, key, conf[key])
		}
	}
	for _, pr := range []struct {
		name string
		p    *corev1.Probe
		path string
	}{{"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/livez"}, {"startup", c.StartupProbe, "/livez"}} {
		if pr.p == nil || pr.p.HTTPGet == nil || pr.p.HTTPGet.Path != pr.path || port(c, pr.p.HTTPGet.Port.String()) == 0 {
			t.Errorf("%s probe: want GET %s on a container port, have %+v", pr.name, pr.path, pr.p)
		}
	}
	if rp := c.ReadinessProbe; rp != nil && time.Duration(rp.PeriodSeconds*rp.FailureThreshold)*time.Second > duration(t, conf["drain-delay"]) {
		t.Errorf("the readiness probe notices a drain after %ds, after drain-delay %s ends", rp.PeriodSeconds*rp.FailureThreshold, conf["drain-delay"])
	}
	secretKeyExists(t, sec, c, "PATCHWELL_DB")
	nonRoot(t, serve)

	// Services select serve's pods, on ports its container has.
	for name, s := range m.services {
		for _, d := range []*appsv1.Deployment{serve, runner} {
			if labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) && d != serve {
				t.Errorf("service %s selects %s's pods", name, d.Name)
			}
		}
		if !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(serve.Spec.Template.Labels)) {
			t.Errorf("service %s selects no serve pod", name)
		}
		for _, p := range s.Spec.Ports {
			if p.TargetPort.Type != intstr.String || port(c, p.TargetPort.StrVal) == 0 {
				t.Errorf("service %s port %s: target %s is no container port of serve", name, p.Name, p.TargetPort.String())
			}
		}
	}
	for name, p := range m.pdbs {
		s, err := metaSelector(p.Spec.Selector.MatchLabels)
		if err != nil || !s.Matches(labels.Set(serve.Spec.Template.Labels)) {
			t.Errorf("pod disruption budget %s does not cover serve's pods", name)
		}
	}

	// The runner: patchwell runner against serve's HTTP service, with the
	// token from the secret.
	rc := container(t, runner, "runner")
	if len(rc.Args) == 0 || rc.Args[0] != "runner" {
		t.Fatalf("runner args %q", rc.Args)
	}
	server, tokenFile := flagValue(rc.Args, "--server"), flagValue(rc.Args, "--token-file")
	u, err := url.Parse(server)
	if err != nil || m.services[u.Hostname()] == nil {
		t.Errorf("runner --server %q names no service", server)
	} else if !slices.ContainsFunc(m.services[u.Hostname()].Spec.Ports, func(p corev1.ServicePort) bool { return p.TargetPort.StrVal == "http" }) {
		t.Errorf("runner --server %q is not serve's HTTP", server)
	}
	mountedFrom(t, runner, rc, tokenFile, "secret", sec.Name, "runner-token")
	if conf["ci-queue-only"] != "true" {
		t.Errorf("with runner pods the serve pods queue CI only (ci-queue-only = true)")
	}
	if len(k.Images) != 1 || k.Images[0].Name != strings.Split(c.Image, ":")[0] || k.Images[0].Name != strings.Split(rc.Image, ":")[0] {
		t.Errorf("kustomization's image %+v is not the containers' (%s, %s)", k.Images, c.Image, rc.Image)
	}
}

// checkConfig runs `patchwell config check` on the ConfigMap's file.
func checkConfig(t *testing.T, toml string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "patchwell")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/patchwell").CombinedOutput(); err != nil {
		t.Fatalf("build patchwell: %v\n%s", err, out)
	}
	file := filepath.Join(dir, "patchwell.toml")
	if err := os.WriteFile(file, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(bin, "config", "check", file).CombinedOutput(); err != nil {
		t.Errorf("patchwell config check of configmap.yaml's patchwell.toml: %v\n%s", err, out)
	}
}

func container(t *testing.T, d *appsv1.Deployment, name string) *corev1.Container {
	t.Helper()
	for i := range d.Spec.Template.Spec.Containers {
		if c := &d.Spec.Template.Spec.Containers[i]; c.Name == name {
			return c
		}
	}
	t.Fatalf("deployment %s has no container %s", d.Name, name)
	return nil
}

func port(c *corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

func metaSelector(m map[string]string) (labels.Selector, error) {
	if len(m) == 0 {
		return nil, fmt.Errorf("an empty selector selects everything")
	}
	return labels.SelectorFromSet(m), nil
}

func duration(t *testing.T, s string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Errorf("duration %q: %v", s, err)
	}
	return d
}

func flagValue(args []string, name string) string {
	for i, a := range args {
		if a == name && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	return ""
}

// mountedFrom checks that path is the file key of the configMap or secret
// named src, mounted into c.
func mountedFrom(t *testing.T, d *appsv1.Deployment, c *corev1.Container, path, kind, src, key string) {
	t.Helper()
	for _, vm := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(path, strings.TrimSuffix(vm.MountPath, "/")+"/")
		if !ok {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name != vm.Name {
				continue
			}
			var name string
			var items []corev1.KeyToPath
			switch {
			case kind == "configMap" && v.ConfigMap != nil:
				name, items = v.ConfigMap.Name, v.ConfigMap.Items
			case kind == "secret" && v.Secret != nil:
				name, items = v.Secret.SecretName, v.Secret.Items
			default:
				continue
			}
			file := rel
			for _, it := range items {
				if it.Path == rel {
					file = it.Key
				}
			}
			if name == src && file == key {
				return
			}
		}
	}
	t.Errorf("%s: %s is not %s %s's %s, mounted", d.Name, path, kind, src, key)
}

func secretKeyExists(t *testing.T, sec *corev1.Secret, c *corev1.Container, env string) {
	t.Helper()
	for _, e := range c.Env {
		if e.Name != env {
			continue
		}
		ref := e.ValueFrom
		if ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != sec.Name {
			t.Errorf("$%s does not come from secret %s", env, sec.Name)
			return
		}
		if _, ok := sec.StringData[ref.SecretKeyRef.Key]; !ok {
			t.Errorf("$%s: secret %s has no key %s", env, sec.Name, ref.SecretKeyRef.Key)
		}
		return
	}
	t.Errorf("container %s has no $%s", c.Name, env)
}

// nonRoot: the image's user (65532), never root.
func nonRoot(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	sc := d.Spec.Template.Spec.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532 {
		t.Errorf("%s must run as the image's user 65532, not root", d.Name)
	}
}

// TestStrictDecodingCatchesTypos: the decoding above does refuse a
// misspelt field (what the test is for).
func TestStrictDecodingCatchesTypos(t *testing.T) {
	data, err := os.ReadFile("deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	bad := bytes.Replace(data, []byte("readinessProbe:"), []byte("readynessProbe:"), 1)
	if err := yaml.UnmarshalStrict(bad, &appsv1.Deployment{}); err == nil || !strings.Contains(err.Error(), "readynessProbe") {
		t.Errorf("a misspelt field decoded: %v", err)
	}
}
