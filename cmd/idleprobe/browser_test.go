package main

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/exporters"
	"github.com/idleprobe/idleprobe/internal/fixtures"
	"github.com/idleprobe/idleprobe/internal/realserver"
	"github.com/idleprobe/idleprobe/prober/plan"
	"github.com/idleprobe/idleprobe/service/state"
)

// screenshotDirEnv names a directory where TestPathPageInBrowser keeps its
// screenshots, for a person to look at.
const screenshotDirEnv = "IDLEPROBE_SCREENSHOT_DIR"

// TestPathPageInBrowser starts serve with stored results (a state file
// with the trials of the last measurement and four earlier results) and
// loads the path's page and the landing page in headless Chromium. The
// pages must render: a PNG of the window's size with many colours, among
// them the bracket's shade and the colours of both outcomes; no message on
// the browser console; and the charts' elements in the DOM, one dot per
// trial and per stored result.
func TestPathPageInBrowser(t *testing.T) {
	dir := t.TempDir()
	statePath, cfgFile := filepath.Join(dir, "state.json"), filepath.Join(dir, "idleprobe.yml")
	// Nothing listens on the target: the stored result is fresh, so serve
	// does not measure it before its next run a day from now.
	target := "http://" + closedPort(t) + "/healthz"
	info := exporters.PathInfo{Name: "api", Target: target, ClientIdleTimeout: 5 * time.Second}
	store, _, err := state.Open(statePath, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	last := shifted(fixtures.Laddered(), now.Add(-time.Minute))
	last.Target = target
	for i, limit := range []time.Duration{3100, 3000, 2000, 3100} {
		r := shifted(fixtures.Laddered(), now.Add(-time.Duration(5-i)*6*time.Hour))
		r.Target, r.Trials = target, nil
		r.Lower, r.Upper = (limit-100)*time.Millisecond, limit*time.Millisecond
		if err := store.Save("api", info, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.Save("api", info, last); err != nil {
		t.Fatal(err)
	}
	writeFile(t, cfgFile, fmt.Sprintf("paths:\n  - name: api\n    target: %s\n    schedule: \"@every 24h\"\n    client_idle_timeout: 5s\n", target))
	addr := freeAddr(t)
	startServe(t, "http://"+addr+"/-/ready", "--config.file", cfgFile, "--storage.path", statePath, "--web.listen-address", addr)

	const w, h = 900, 1300
	page := realserver.LoadPage(t, "http://"+addr+"/path/api", w, h)
	keepScreenshot(t, "path-page.png", page.Screenshot)
	if len(page.Console) > 0 {
		t.Errorf("the browser console has messages: %q", page.Console)
	}
	for _, want := range []string{`data-chart="trials"`, `class="bracket"`, `class="client-idle"`, `data-chart="history"`, `class="history-band"`, "<h1>api</h1>"} {
		if !strings.Contains(page.DOM, want) {
			t.Errorf("the DOM lacks %s", want)
		}
	}
	if n, want := strings.Count(page.DOM, `class="trial outcome-`), len(last.Trials); n != want {
		t.Errorf("%d trial dots in the DOM, want %d", n, want)
	}
	if n := strings.Count(page.DOM, `class="history-point`); n != 5 {
		t.Errorf("%d history points in the DOM, want 5 (the stored results)", n)
	}
	img := decodePNG(t, page.Screenshot)
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Errorf("screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), w, h)
	}
	colours := palette(img)
	if len(colours) < 50 {
		t.Errorf("the screenshot has %d colours: blank?", len(colours))
	}
	for name, c := range map[string]uint32{"bracket shade": 0xfff1b8, "ok": 0x2a9d3a, "reset": 0xd62828, "client line": 0xc1121f} {
		if colours[c] < 10 {
			t.Errorf("the screenshot has %d pixels of the %s colour #%06x", colours[c], name, c)
		}
	}

	landing := realserver.LoadPage(t, "http://"+addr+"/", w, 500)
	keepScreenshot(t, "landing.png", landing.Screenshot)
	if len(landing.Console) > 0 {
		t.Errorf("the browser console has messages on the landing page: %q", landing.Console)
	}
	if !strings.Contains(landing.DOM, `<a href="path/api">api</a>`) {
		t.Errorf("the landing page does not link to the path's page:\n%s", landing.DOM)
	}
}

// shifted moves a result's times so that it finished at end.
func shifted(r plan.Result, end time.Time) plan.Result {
	d := end.Sub(r.Finished)
	r.Started, r.Finished = r.Started.Add(d), r.Finished.Add(d)
	trials := make([]plan.Trial, len(r.Trials))
	for i, tr := range r.Trials {
		tr.End = tr.End.Add(d)
		trials[i] = tr
	}
	r.Trials = trials
	return r
}

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	return img
}

// palette counts the pixels of each colour (0xRRGGBB) of img.
func palette(img image.Image) map[uint32]int {
	out := map[uint32]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			out[(r>>8)<<16|(g>>8)<<8|bl>>8]++
		}
	}
	return out
}

// keepScreenshot writes a screenshot to $IDLEPROBE_SCREENSHOT_DIR, when set.
func keepScreenshot(t *testing.T, name string, png []byte) {
	t.Helper()
	dir := os.Getenv(screenshotDirEnv)
	if dir == "" {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Errorf("keeping the screenshot: %v", err)
	}
}
