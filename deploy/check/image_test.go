package check

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// ociLayout is the image to check: an OCI image layout directory holding
// one image (buildah push IMAGE oci:DIR), from $IDLEPROBE_OCI_LAYOUT. .ci/run
// builds it with deploy/image/build-local.sh.
func ociLayout(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("IDLEPROBE_OCI_LAYOUT")
	if dir == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("IDLEPROBE_OCI_LAYOUT is not set: .ci/run builds the image and sets it")
		}
		t.Skip("IDLEPROBE_OCI_LAYOUT is not set (build the image with deploy/image/build-local.sh, then buildah push IMAGE oci:DIR)")
	}
	return dir
}

// blob reads the blob of digest ("sha256:...") from the layout.
func blob(t *testing.T, dir, digest string) []byte {
	t.Helper()
	algo, hex, ok := strings.Cut(digest, ":")
	if !ok {
		t.Fatalf("bad digest %q", digest)
	}
	b, err := os.ReadFile(filepath.Join(dir, "blobs", algo, hex))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type descriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
}

// imageConfig is the part of the OCI image config that is checked.
type imageConfig struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		User         string              `json:"User"`
		Entrypoint   []string            `json:"Entrypoint"`
		Cmd          []string            `json:"Cmd"`
		WorkingDir   string              `json:"WorkingDir"`
		ExposedPorts map[string]struct{} `json:"ExposedPorts"`
	} `json:"config"`
}

// file is one entry of the image's filesystem.
type file struct {
	hdr  tar.Header
	data []byte
}

// unpack reads the image of the layout: its config and its files (the
// layers applied in order; whiteouts are not expected in a FROM scratch
// image and fail the test).
func unpack(t *testing.T, dir string) (imageConfig, map[string]file) {
	t.Helper()
	var index struct{ Manifests []descriptor }
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &index); err != nil {
		t.Fatalf("%s/index.json: %v", dir, err)
	}
	if len(index.Manifests) != 1 {
		t.Fatalf("the layout holds %d images, want 1", len(index.Manifests))
	}
	var manifest struct {
		Config descriptor   `json:"config"`
		Layers []descriptor `json:"layers"`
	}
	if err := json.Unmarshal(blob(t, dir, index.Manifests[0].Digest), &manifest); err != nil {
		t.Fatal(err)
	}
	var cfg imageConfig
	if err := json.Unmarshal(blob(t, dir, manifest.Config.Digest), &cfg); err != nil {
		t.Fatal(err)
	}
	files := map[string]file{}
	for _, l := range manifest.Layers {
		var r io.Reader = bytes.NewReader(blob(t, dir, l.Digest))
		if strings.HasSuffix(l.MediaType, "+gzip") {
			zr, err := gzip.NewReader(r)
			if err != nil {
				t.Fatal(err)
			}
			r = zr
		}
		tr := tar.NewReader(r)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("layer %s: %v", l.Digest, err)
			}
			name := "/" + strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/")
			name = strings.TrimSuffix(name, "/")
			if strings.Contains(filepath.Base(name), ".wh.") {
				t.Fatalf("layer %s has a whiteout %s", l.Digest, name)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[name] = file{hdr: *h, data: data}
		}
	}
	return cfg, files
}

// TestImage checks the image built from local files: a non-root numeric
// user, the idleprobe entrypoint and serve command, a static binary whose
// `version` runs, the CA bundle, the example config that idleprobe
// accepts, the alert rules equal to configs/alerts, and a home directory
// the user owns for the state file.
func TestImage(t *testing.T) {
	dir := ociLayout(t)
	cfg, files := unpack(t, dir)

	uid, gid, ok := strings.Cut(cfg.Config.User, ":")
	if !ok || !regexp.MustCompile(`^[1-9][0-9]*$`).MatchString(uid) || !regexp.MustCompile(`^[1-9][0-9]*$`).MatchString(gid) {
		t.Errorf("user %q, want a numeric non-root UID:GID (Kubernetes runAsNonRoot can only verify a number)", cfg.Config.User)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/usr/local/bin/idleprobe"}) {
		t.Errorf("entrypoint %q", cfg.Config.Entrypoint)
	}
	if len(cfg.Config.Cmd) == 0 || cfg.Config.Cmd[0] != "serve" || !slices.Contains(cfg.Config.Cmd, "--config.file=/etc/idleprobe/idleprobe.yml") {
		t.Errorf("cmd %q, want serve with the shipped config", cfg.Config.Cmd)
	}
	for _, p := range []string{"9958/tcp", "8080/tcp", "9090/tcp"} {
		if _, ok := cfg.Config.ExposedPorts[p]; !ok {
			t.Errorf("port %s is not exposed", p)
		}
	}

	bin, ok := files["/usr/local/bin/idleprobe"]
	if !ok {
		t.Fatal("no /usr/local/bin/idleprobe in the image")
	}
	if bin.hdr.Mode&0o111 == 0 {
		t.Errorf("the binary's mode %o is not executable", bin.hdr.Mode)
	}
	ef, err := elf.NewFile(bytes.NewReader(bin.data))
	if err != nil {
		t.Fatalf("the binary is not ELF: %v", err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary is dynamically linked (has an interpreter); the image has no libc")
		}
	}
	exe := filepath.Join(t.TempDir(), "idleprobe")
	if err := os.WriteFile(exe, bin.data, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(exe, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "idleprobe, version ") {
		t.Errorf("the unpacked binary's version: %v\n%s", err, out)
	}
	if v := os.Getenv("IDLEPROBE_IMAGE_VERSION"); v != "" && !strings.HasPrefix(string(out), "idleprobe, version "+v+" ") {
		t.Errorf("the image's binary says %q, want version %s (the binary CI built)", firstLine(out), v)
	}
	t.Logf("image: user %s, %d files, binary %d bytes; %s", cfg.Config.User, len(files), len(bin.data), firstLine(out))

	ca := files["/etc/ssl/certs/ca-certificates.crt"]
	if n := bytes.Count(ca.data, []byte("BEGIN CERTIFICATE")); n < 50 {
		t.Errorf("CA bundle has %d certificates, want the system's (over 50)", n)
	}
	rules, err := os.ReadFile(filepath.Join(repoRoot, "configs", "alerts", "idleprobe.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(files["/etc/idleprobe/idleprobe.rules.yml"].data, rules) {
		t.Error("/etc/idleprobe/idleprobe.rules.yml differs from configs/alerts/idleprobe.rules.yml")
	}
	config := files["/etc/idleprobe/idleprobe.yml"]
	cfgFile := filepath.Join(t.TempDir(), "idleprobe.yml")
	if err := os.WriteFile(cfgFile, config.data, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(exe, "check-config", cfgFile).CombinedOutput(); err != nil {
		t.Errorf("the image's config: %v\n%s", err, out)
	}
	home := files["/home/nonroot"]
	if home.hdr.Typeflag != tar.TypeDir || uid != strconv.Itoa(home.hdr.Uid) {
		t.Errorf("/home/nonroot (the state file's directory and the working directory) is not a directory owned by %s: uid %d type %c", uid, home.hdr.Uid, home.hdr.Typeflag)
	}
	if cfg.Config.WorkingDir != "/home/nonroot" {
		t.Errorf("working directory %q", cfg.Config.WorkingDir)
	}
	for name, f := range files {
		if f.hdr.Mode&0o4000 != 0 || f.hdr.Mode&0o2000 != 0 {
			t.Errorf("%s is setuid or setgid", name)
		}
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}

// finalStage returns the instructions of the last stage of a Dockerfile,
// with line continuations joined, comments dropped, and the build stage's
// sources of COPY --from=build reduced to their base names.
func finalStage(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var stage []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "FROM ") {
			stage = nil
			continue
		}
		stage = append(stage, line)
	}
	return stage
}

// copyDest reduces COPY lines to their flags and destination: the two
// files take their sources from different places.
func copyDest(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		fields := strings.Fields(l)
		if fields[0] != "COPY" {
			out[i] = l
			continue
		}
		var flags []string
		for _, f := range fields[1:] {
			if strings.HasPrefix(f, "--") && !strings.HasPrefix(f, "--from=") {
				flags = append(flags, f)
			}
		}
		out[i] = strings.Join(append(append([]string{"COPY"}, flags...), fields[len(fields)-1]), " ")
	}
	return out
}

// TestContainerfilesAgree: the local build's Containerfile is the
// Dockerfile's final stage (same destinations, user, entrypoint, command),
// so the image CI verifies is the image users build.
func TestContainerfilesAgree(t *testing.T) {
	full := copyDest(finalStage(t, filepath.Join(repoRoot, "Dockerfile")))
	local := copyDest(finalStage(t, filepath.Join("..", "image", "Containerfile.local")))
	if !slices.Equal(full, local) {
		t.Errorf("the final stages differ:\nDockerfile:\n  %s\nContainerfile.local:\n  %s", strings.Join(full, "\n  "), strings.Join(local, "\n  "))
	}
	if !slices.ContainsFunc(full, func(l string) bool { return strings.HasPrefix(l, "USER 65532:65532") }) {
		t.Errorf("the final stage has no numeric non-root USER: %q", full)
	}
}
