package main

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestMeasurePictures runs `measure --output svg` and `--output html`
// against the responder: the SVG is well-formed XML with a dot per trial,
// the page holds the same chart and the summary, escaped.
func TestMeasurePictures(t *testing.T) {
	s := startResponder(t)
	target := "http://" + s.HTTPAddr().String() + "/health"
	short := []string{"measure", "--min", "100ms", "--max", "400ms", "--timeout", "2s", "--name", `web<&>`}

	code, svg, stderr := runCmd(t, context.Background(), append(short, "--output", "svg", target)...)
	if code != exitOK {
		t.Fatalf("--output svg: exit %d:\n%s", code, stderr)
	}
	dots, title := 0, ""
	d := xml.NewDecoder(strings.NewReader(svg))
	d.Strict = true
	inTitle := false
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("--output svg is not well-formed XML: %v\n%s", err, svg)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			inTitle = tk.Name.Local == "title" && title == ""
			for _, a := range tk.Attr {
				if a.Name.Local == "class" && strings.HasPrefix(a.Value, "trial ") {
					dots++
				}
			}
		case xml.CharData:
			if inTitle {
				title = string(tk)
				inTitle = false
			}
		}
	}
	if title != `web<&>` {
		t.Errorf("svg title = %q, want the --name", title)
	}
	if dots == 0 || !strings.Contains(svg, `class="lower-bound"`) {
		t.Errorf("svg has %d trial dots, or no lower-bound line (no limit up to --max):\n%s", dots, svg)
	}

	code, page, stderr := runCmd(t, context.Background(), append(short, "--output", "html", target)...)
	if code != exitOK {
		t.Fatalf("--output html: exit %d:\n%s", code, stderr)
	}
	for _, want := range []string{"<!DOCTYPE html>", "<h1>web&lt;&amp;&gt;</h1>", `data-chart="trials"`, "<pre>idleprobe result\n", "Target:         " + target} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "web<&>") {
		t.Errorf("page has a script or the unescaped name")
	}
}
