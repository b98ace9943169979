package realserver

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Page is what headless Chromium made of a web page.
type Page struct {
	// Screenshot is the PNG of the window.
	Screenshot []byte
	// DOM is the document after loading (--dump-dom).
	DOM string
	// Console holds the messages the page logged to the browser console
	// (script errors, failed resource loads, console.log), one per entry.
	Console []string
	// Log is Chromium's whole log, for a failing test to show.
	Log string
}

// chromiumTimeout bounds one page load, start to exit.
const chromiumTimeout = 90 * time.Second

// consoleLine matches a console message in Chromium's log with
// --enable-logging=stderr --v=0: `...:INFO:CONSOLE:1] "message", source: URL (1)`.
var consoleLine = regexp.MustCompile(`:CONSOLE(?::\d+|\(\d+\))\] (.*)`)

// LoadPage loads url in headless Chromium (Debian package chromium) with a
// window of width x height pixels, a fresh profile, and everything that
// would reach the network on its own turned off, and returns its
// screenshot, the DOM and the console messages. The browser is stopped by
// its PID (with whatever it started) when it has not exited within
// chromiumTimeout. Missing Chromium skips the test, or fails it under CI.
func LoadPage(t testing.TB, url string, width, height int) Page {
	t.Helper()
	bin := LookProgram(t, "chromium", "apt-get install -y chromium")
	dir := t.TempDir()
	shot := filepath.Join(dir, "screenshot.png")
	var dom lockedBuffer
	p := Start(t, Command{
		Name: "chromium",
		Argv: []string{bin,
			"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--disable-default-apps", "--disable-extensions", "--no-default-browser-check",
			"--user-data-dir=" + filepath.Join(dir, "profile"),
			"--enable-logging=stderr", "--v=0",
			"--window-size=" + strconv.Itoa(width) + "," + strconv.Itoa(height),
			"--screenshot=" + shot, "--dump-dom", url,
		},
		LogDir: dir,
		// HOME and the XDG directories in the test's directory: Chromium
		// writes caches and crash reports there.
		Env:    append(os.Environ(), "HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_CACHE_HOME="+dir),
		Stdout: &dom,
	})
	timer := time.NewTimer(chromiumTimeout)
	defer timer.Stop()
	select {
	case <-p.Done():
	case <-timer.C:
		p.Stop(t)
		t.Fatalf("chromium did not finish loading %s within %s:\n%s", url, chromiumTimeout, p.Tail(30))
	}
	p.Stop(t) // reaps what is left of its process group
	if _, err := p.Exited(); err != nil {
		t.Fatalf("chromium failed on %s: %v\n%s", url, err, p.Tail(30))
	}
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot of %s: %v\n%s", url, err, p.Tail(30))
	}
	page := Page{Screenshot: png, DOM: dom.String(), Log: p.Output()}
	for _, m := range consoleLine.FindAllStringSubmatch(page.Log, -1) {
		page.Console = append(page.Console, m[1])
	}
	return page
}

// lockedBuffer is a bytes.Buffer written by the process's stdout copier
// and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
