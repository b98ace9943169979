package cliflags

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/promslog"

	"github.com/idleprobe/idleprobe/prober"
)

func TestUnescape(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{`PING\r\n`, "PING\r\n", ""},
		{`a\tb\\c\0`, "a\tb\\c\x00", ""},
		{`\x2bPONG`, "+PONG", ""},
		{`plain`, "plain", ""},
		{`bad\`, "", "lone backslash"},
		{`\x4`, "", "needs two hex digits"},
		{`\xzz`, "", "not a hex byte"},
		{`\q`, "", "unknown escape"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Unescape(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("Unescape(%q) error = %v, want %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Errorf("Unescape(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestKeepalive(t *testing.T) {
	const s = time.Second
	tests := []struct {
		in   string
		want prober.KeepaliveCheck
		err  string // fragment of the error; "" for valid input
	}{
		{in: "30s", want: prober.KeepaliveCheck{Idle: 30 * s}},
		{in: "30s,75s", want: prober.KeepaliveCheck{Idle: 30 * s, Interval: 75 * s}},
		{in: "30s,75s,9", want: prober.KeepaliveCheck{Idle: 30 * s, Interval: 75 * s, Count: 9}},
		{in: "2m, 1m, 3", want: prober.KeepaliveCheck{Idle: 2 * time.Minute, Interval: time.Minute, Count: 3}},
		{in: "", err: `"": idle is empty`},
		{in: "30", err: `idle "30" is not a duration (example: 30s,75s,9)`},
		{in: "500ms", err: "idle 500ms is not a whole number of seconds"},
		{in: "30s,1.5s", err: "interval 1.5s is not a whole number of seconds"},
		{in: "0s", err: "idle 0s must be positive"},
		{in: "30s,-1s", err: "interval -1s must be positive"},
		{in: "30s,,9", err: "interval is empty"},
		{in: "30s,75s,0", err: `count "0" must be a whole number of probes, at least 1`},
		{in: "30s,75s,many", err: `count "many" must be a whole number`},
		{in: "1s,1s,1,1", err: "has 4 parts, want IDLE[,INTERVAL[,COUNT]]"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			k, err := Keepalive(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Keepalive(%q) = %v, %v; want an error containing %q", tc.in, k, err, tc.err)
				}
				return
			}
			if err != nil || *k != tc.want {
				t.Fatalf("Keepalive(%q) = %+v, %v; want %+v", tc.in, k, err, tc.want)
			}
			if err := k.Validate(); err != nil {
				t.Errorf("the prober rejects what the flag accepted: %v", err)
			}
		})
	}
}

func TestFraction(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want float64
		err  string
	}{{"0.02", 0.02, ""}, {"2%", 0.02, ""}, {"1", 1, ""}, {"two", 0, `"two" is not a number (examples: 0.02, 2%)`}} {
		var f Fraction
		err := f.Set(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("Set(%q) = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || float64(f) != tc.want {
			t.Errorf("Set(%q) = %v, %v; want %v", tc.in, float64(f), err, tc.want)
		}
	}
}

// TestNameErrors: a bad value names its flag and says what is valid; the
// values keep working as kingpin's (repeatable, boolean).
func TestNameErrors(t *testing.T) {
	app := kingpin.New("x", "").Terminate(nil)
	cmd := app.Command("run", "")
	d := cmd.Flag("max", "").Default("1h").Duration()
	n := cmd.Flag("budget", "").Default("64").Int()
	level := app.Flag("level", "").Default("info").Enum("info", "debug")
	app.Flag("log.level", "").Default("info").SetValue(promslog.NewLevel())
	many := cmd.Flag("header", "").Strings()
	on := cmd.Flag("insecure", "").Bool()
	NameErrors(app, map[string][]string{"log.level": promslog.LevelFlagOptions})
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"run", "--max", "90x"}, `--max: "90x" is not a duration (examples: 250ms, 90s, 15m, 1h)`},
		{[]string{"run", "--budget", "many"}, `--budget: "many" is not a whole number`},
		{[]string{"--level", "loud", "run"}, `--level: enum value must be one of info,debug, got 'loud'`},
		{[]string{"run", "--log.level", "loud"}, `--log.level: unrecognized log level loud (valid: debug, info, warn, error)`},
	} {
		if _, err := app.Parse(tc.args); err == nil || err.Error() != tc.err {
			t.Errorf("%v: error %v, want %q", tc.args, err, tc.err)
		}
	}
	if _, err := app.Parse([]string{"run", "--max", "5s", "--budget", "3", "--header", "A: 1", "--header", "B: 2", "--insecure", "--level", "debug"}); err != nil {
		t.Fatal(err)
	}
	if *d != 5*time.Second || *n != 3 || strings.Join(*many, "|") != "A: 1|B: 2" || !*on || *level != "debug" {
		t.Errorf("parsed max %s, budget %d, headers %q, insecure %v, level %s", *d, *n, *many, *on, *level)
	}
}

func TestSetUsage(t *testing.T) {
	var out bytes.Buffer
	app := kingpin.New("x", "").UsageWriter(&out).Terminate(nil)
	app.Command("run", "Run it.\n\nAt length, with details.")
	app.Command("quiet", "Takes nothing.").Arg("arguments", "").Hidden().Strings()
	SetUsage(app)
	app.Usage(nil)
	if s := out.String(); !strings.Contains(s, "Run it.") || strings.Contains(s, "At length") {
		t.Errorf("the command list shows more than summaries:\n%s", s)
	}
	out.Reset()
	app.Usage([]string{"run"})
	if s := out.String(); !strings.Contains(s, "At length, with details.") {
		t.Errorf("a command's help lacks its details:\n%s", s)
	}
	out.Reset()
	app.Usage([]string{"quiet"})
	if s := out.String(); strings.Contains(s, "Args:") {
		t.Errorf("a command with only a hidden argument shows Args:\n%s", s)
	}
}
