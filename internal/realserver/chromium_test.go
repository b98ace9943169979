package realserver

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestLoadPageConsole loads a page whose script fails in headless
// Chromium: the error reaches Page.Console, and the DOM is the one after
// the script ran. (What the browser tests assert to be empty must be able
// to be non-empty.)
func TestLoadPageConsole(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!DOCTYPE html><html><head><link rel="icon" href="data:,"></head><body><p id="p">before</p>`+
			`<script>document.getElementById("p").textContent = "after"; notDefined();</script></body></html>`)
	}))
	t.Cleanup(srv.Close)
	page := LoadPage(t, srv.URL, 400, 300)
	if len(page.Console) != 1 || !strings.Contains(page.Console[0], "notDefined is not defined") {
		t.Errorf("console = %q, want the ReferenceError", page.Console)
	}
	if !strings.Contains(page.DOM, `<p id="p">after</p>`) {
		t.Errorf("the DOM is not the one after the script:\n%s", page.DOM)
	}
	if len(page.Screenshot) < 100 {
		t.Errorf("screenshot of %d bytes", len(page.Screenshot))
	}
}
