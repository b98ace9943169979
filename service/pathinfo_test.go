package service

import (
	"testing"

	"github.com/idleprobe/idleprobe/configs"
	"github.com/idleprobe/idleprobe/prober"
)

// TestPathInfoDirection: the collector learns each path's direction as it
// is measured, for the pages to show before a first result: the scheme's
// default (server for udp) or the configured one.
func TestPathInfoDirection(t *testing.T) {
	for _, c := range []struct {
		target, direction, want string
	}{
		{"tcp://192.0.2.40:9092", "", prober.DirectionClient},
		{"tcp://192.0.2.40:9092", prober.DirectionServer, prober.DirectionServer},
		{"udp://192.0.2.42:9090", "", prober.DirectionServer},
		{"http://192.0.2.10:8080/", "", prober.DirectionClient},
	} {
		p := configs.Path{Name: "p", Target: c.target, Direction: c.direction, Schedule: "@every 6h"}
		if got := pathInfo(p).Direction; got != c.want {
			t.Errorf("pathInfo(%s, direction %q).Direction = %q, want %q", c.target, c.direction, got, c.want)
		}
	}
}
