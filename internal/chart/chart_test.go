package chart

import (
	"bytes"
	"encoding/xml"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/idleprobe/idleprobe/internal/fixtures"
	"github.com/idleprobe/idleprobe/prober/plan"
)

// element is one decoded SVG element: its name, attributes and the text
// directly inside it.
type element struct {
	name  string
	attrs map[string]string
	text  string
}

// parse decodes an SVG strictly with encoding/xml and returns its elements
// in document order; it fails the test when the document is not
// well-formed XML or its root is not an svg element.
func parse(t *testing.T, doc []byte) []element {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(doc))
	d.Strict = true
	var out []element
	var stack []int
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, doc)
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			e := element{name: tk.Name.Local, attrs: map[string]string{}}
			for _, a := range tk.Attr {
				e.attrs[a.Name.Local] = a.Value
			}
			out = append(out, e)
			stack = append(stack, len(out)-1)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				out[stack[len(stack)-1]].text += string(tk)
			}
		}
	}
	if len(out) == 0 || out[0].name != "svg" || out[0].attrs["xmlns"] == "" && !strings.Contains(string(doc), `xmlns="http://www.w3.org/2000/svg"`) {
		t.Fatalf("root is not an svg element:\n%s", doc)
	}
	return out
}

// withClass returns the elements whose class list holds class.
func withClass(els []element, class string) []element {
	var out []element
	for _, e := range els {
		for _, c := range strings.Fields(e.attrs["class"]) {
			if c == class {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

// measured is a found result with trials around a 3 s reset limit.
func measured() plan.Result { return fixtures.Laddered() }

func TestTrials(t *testing.T) {
	hostile := `<script>alert("x")</script> & ]]>`
	tests := []struct {
		name       string
		result     plan.Result
		clientIdle time.Duration
		trials     map[string]int // class -> count
		bracket    int
		client     int
	}{
		{"found with client timeout", measured(), 5 * time.Second, nil, 1, 1},
		{"found without client timeout", measured(), 0, nil, 1, 0},
		{"no limit", fixtures.NoLimit(), time.Minute, map[string]int{"outcome-ok": 0}, 0, 1},
		{"lifetime", fixtures.Lifetime(), 0, map[string]int{"outcome-ok": 1, "outcome-reset": 1}, 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := Trials(&b, hostile, tc.result, tc.clientIdle); err != nil {
				t.Fatal(err)
			}
			els := parse(t, b.Bytes())
			if tc.trials == nil {
				tc.trials = map[string]int{}
				for _, tr := range tc.result.Trials {
					tc.trials["outcome-"+string(tr.Outcome)]++
				}
			}
			for class, n := range tc.trials {
				if got := len(withClass(els, class)); got != n {
					t.Errorf("%d elements of class %s, want %d", got, class, n)
				}
			}
			if got := len(withClass(els, "trial")); got != len(tc.result.Trials) {
				t.Errorf("%d trial dots, want %d", got, len(tc.result.Trials))
			}
			if got := len(withClass(els, "bracket")); got != tc.bracket {
				t.Errorf("%d bracket bands, want %d", got, tc.bracket)
			}
			if got := len(withClass(els, "client-idle")); got != tc.client {
				t.Errorf("%d client idle lines, want %d", got, tc.client)
			}
			checkTitle(t, els, hostile)
			if !tc.result.Found {
				if len(withClass(els, "lower-bound")) != 1 {
					t.Errorf("no lower-bound line for a result without limit")
				}
			}
		})
	}
}

// TestTrialsGeometry checks that the dots are where their ages say (x
// grows with the age, y with the time the outcome was known), that the
// bracket band lies between the oldest ok and the youngest failure, and
// that the client line is at its age.
func TestTrialsGeometry(t *testing.T) {
	r := measured()
	client := 5 * time.Second
	var b bytes.Buffer
	if err := Trials(&b, "api", r, client); err != nil {
		t.Fatal(err)
	}
	els := parse(t, b.Bytes())
	dots := withClass(els, "trial")
	if len(dots) != len(r.Trials) {
		t.Fatalf("%d dots for %d trials", len(dots), len(r.Trials))
	}
	// px is the x of an age, from the first dot's position and the scale
	// that every other dot must agree with.
	first, last := 0, 0
	for i, tr := range r.Trials {
		if tr.Age < r.Trials[first].Age {
			first = i
		}
		if tr.Age > r.Trials[last].Age {
			last = i
		}
	}
	perSec := (num(t, dots[last].attrs["cx"]) - num(t, dots[first].attrs["cx"])) / (r.Trials[last].Age - r.Trials[first].Age).Seconds()
	px := func(d time.Duration) float64 {
		return num(t, dots[first].attrs["cx"]) + perSec*(d-r.Trials[first].Age).Seconds()
	}
	var lastOK, firstFail float64 = 0, 1e9
	for i, d := range dots {
		tr := r.Trials[i]
		x, y := num(t, d.attrs["cx"]), num(t, d.attrs["cy"])
		if diff := x - px(tr.Age); diff < -0.2 || diff > 0.2 {
			t.Errorf("trial %d (age %s) at x=%.1f, want %.1f", i, tr.Age, x, px(tr.Age))
		}
		if x < marginLeft || x > marginLeft+plotW || y < marginTop || y > marginTop+plotH {
			t.Errorf("trial %d at (%.1f, %.1f) outside the plot", i, x, y)
		}
		if i > 0 && r.Trials[i].End.After(r.Trials[i-1].End) && y <= num(t, dots[i-1].attrs["cy"]) {
			t.Errorf("trial %d known later but drawn higher", i)
		}
		if tr.Outcome == plan.OK {
			lastOK = max(lastOK, x)
		} else {
			firstFail = min(firstFail, x)
		}
		if tr.Confirm != (d.attrs["stroke"] != "") {
			t.Errorf("trial %d: confirmation %v, outlined %q", i, tr.Confirm, d.attrs["stroke"])
		}
	}
	band := withClass(els, "bracket")[0]
	x0, x1 := num(t, band.attrs["x"]), num(t, band.attrs["x"])+num(t, band.attrs["width"])
	if x0 < lastOK-0.5 || x0 > lastOK+0.5 || x1 < firstFail-0.5 || x1 > firstFail+0.5 {
		t.Errorf("bracket band [%.1f, %.1f], want [%.1f, %.1f] (the oldest ok, the youngest failure)", x0, x1, lastOK, firstFail)
	}
	if cl := num(t, withClass(els, "client-idle")[0].attrs["x1"]); cl < px(client)-0.2 || cl > px(client)+0.2 {
		t.Errorf("client line at %.1f, want %.1f", cl, px(client))
	}
}

func TestHistory(t *testing.T) {
	t0 := fixtures.T0
	points := []Point{
		{At: t0, Lower: 59 * time.Second, Upper: 61 * time.Second, Found: true},
		{At: t0.Add(6 * time.Hour), Lower: 59500 * time.Millisecond, Upper: 60500 * time.Millisecond, Found: true},
		{At: t0.Add(12 * time.Hour), Lower: 10 * time.Minute},
		{At: t0.Add(18 * time.Hour), Lower: 29 * time.Second, Upper: 31 * time.Second, Found: true},
	}
	hostile := `"><img src=x onerror=alert(1)>`
	var b bytes.Buffer
	if err := History(&b, hostile, points, 45*time.Second); err != nil {
		t.Fatal(err)
	}
	els := parse(t, b.Bytes())
	if got := len(withClass(els, "history-point")); got != 4 {
		t.Errorf("%d history points, want 4", got)
	}
	if got := len(withClass(els, "no-limit")); got != 1 {
		t.Errorf("%d no-limit points, want 1", got)
	}
	// The no-limit result splits the band in two.
	if got := len(withClass(els, "history-band")); got != 2 {
		t.Errorf("%d bands, want 2", got)
	}
	if got := len(withClass(els, "client-idle")); got != 1 {
		t.Errorf("%d client lines, want 1", got)
	}
	checkTitle(t, els, hostile)

	b.Reset()
	if err := History(&b, "empty", nil, 0); err != nil {
		t.Fatal(err)
	}
	if els := parse(t, b.Bytes()); len(withClass(els, "empty")) != 1 || len(withClass(els, "history-point")) != 0 {
		t.Errorf("an empty history is not said so:\n%s", b.String())
	}
}

// checkTitle checks that the hostile title came through as text, and that
// no element but the chart's own was made of it.
func checkTitle(t *testing.T, els []element, title string) {
	t.Helper()
	if els[1].name != "title" || els[1].text != title {
		t.Errorf("svg title = %q, want %q", els[1].text, title)
	}
	for _, e := range els {
		switch e.name {
		case "svg", "title", "rect", "line", "circle", "text", "polygon":
		default:
			t.Errorf("unexpected element <%s> (escaping?)", e.name)
		}
		for k := range e.attrs {
			if strings.HasPrefix(k, "on") {
				t.Errorf("event handler attribute %s on <%s>", k, e.name)
			}
		}
	}
}

func num(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("not a number: %q", s)
	}
	return v
}

func TestNiceMax(t *testing.T) {
	tests := []struct {
		max, top, step float64
	}{
		{3.2, 3.5, 0.5},
		{63, 70, 10},
		{0, 1, 0.2},
		{3600, 3600, 600},
		{800, 840, 120},
	}
	for _, tc := range tests {
		top, step := niceMax(tc.max, 8)
		if top != tc.top || step != tc.step {
			t.Errorf("niceMax(%g) = %g, %g; want %g, %g", tc.max, top, step, tc.top, tc.step)
		}
	}
}
