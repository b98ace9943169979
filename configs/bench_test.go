package configs

import (
	"fmt"
	"strings"
	"testing"
)

// fleetConfig renders a config of n paths that use every kind of setting:
// five schedule forms, labels, request headers, tcp payloads, keepalive
// checks, client idle timeouts. salt (0-59) changes every schedule, so that
// each load works out the schedules' periods afresh.
func fleetConfig(n, salt int) []byte {
	var b strings.Builder
	b.WriteString(`max_connections: 4096
defaults:
  schedule: "@every 6h"
  min_idle: 5s
  max_idle: 45m
  precision: 2%
  budget: 32
  client_idle_timeout: 20m
  labels:
    cluster: prod-eu-1
paths:
`)
	// Schedules spread over the hour and the day, as a fleet's are: every
	// path has its own (hourly at minute m, every 6 hours at minute m,
	// daily at a time of its own, weekdays, an interval).
	schedules := []string{`"%[4]d %[1]d * * * *"`, `"%[4]d %[1]d */6 * * *"`, `"CRON_TZ=Europe/Berlin %[4]d %[1]d %[2]d * * *"`,
		`"%[4]d %[1]d 9 * * MON-FRI"`, `"@every %[3]dm%[4]ds"`}
	for i := range n {
		sched := fmt.Sprintf(schedules[i%len(schedules)], i%60, i%24, 30+i%300, salt%60)
		fmt.Fprintf(&b, "  - name: path-%04d\n    schedule: %s\n    labels:\n      hop: hop-%d\n", i, sched, i%7)
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "    target: http://198.51.100.%d:8080/healthz\n    request:\n      method: GET\n      host: svc-%d.example.internal\n      headers:\n        X-Probe: idleprobe\n", i%250+1, i)
		case 1:
			fmt.Fprintf(&b, "    target: tcp://192.0.2.%d:6379\n    tcp:\n      send: \"PING\\r\\n\"\n      expect: \"+PONG\"\n", i%250+1)
		case 2:
			fmt.Fprintf(&b, "    target: h2c://203.0.113.%d:8080/\n    tcp_keepalive:\n      idle: 30s\n      interval: 75s\n      count: 9\n", i%250+1)
		default:
			fmt.Fprintf(&b, "    target: http://192.0.2.%d/\n    max_idle: 20m\n    client_idle_timeout: 5m\n", i%250+1)
		}
	}
	return []byte(b.String())
}

// BenchmarkParse1000Paths: loading and validating a config of 1,000 paths
// (what serve does at start-up and on every reload), each load with
// schedules it has not seen before. Run it with
//
//	go test ./configs -run '^$' -bench Parse1000Paths -benchtime 20x
func BenchmarkParse1000Paths(b *testing.B) {
	var files [][]byte
	for salt := range 60 {
		files = append(files, fleetConfig(1000, salt))
	}
	i := 0
	for b.Loop() {
		c, _, err := Parse(files[i%len(files)], "fleet.yml")
		i++
		if err != nil {
			b.Fatal(err)
		}
		if len(c.Paths) != 1000 {
			b.Fatalf("%d paths", len(c.Paths))
		}
	}
}
