package configs

import (
	"slices"
	"strings"

	"github.com/idleprobe/idleprobe/prober"
)

// Checks of the settings of ws, wss, grpc and grpcs targets: websocket,
// grpc and ping_keepalive.

// checkWSGRPC checks websocket, grpc and ping_keepalive and reports
// whether ping_keepalive is usable (or absent).
func (v pathCheck) checkWSGRPC(scheme string) bool {
	ws := scheme == "ws" || scheme == "wss"
	if v.given("websocket.send") && v.ok("websocket.send") && v.WebSocket.Send == "" {
		v.errorf("websocket.send", "must not be empty: a reuse has to send a message (leave it out for the default \"idleprobe N\", echoed)")
	}
	if scheme != "" && !ws && v.setHere("websocket") {
		v.warnf("websocket", "is ignored for %s targets (only ws and wss use it)", scheme)
	}
	if (ws || scheme == "grpc" || scheme == "grpcs") && (v.setHere("request.method") || v.setHere("request.body")) {
		v.warnf("request", "method and body are ignored for %s targets (headers and host are used)", scheme)
	}
	if scheme != "" && scheme != "grpc" && scheme != "grpcs" && v.setHere("grpc") {
		v.warnf("grpc", "is ignored for %s targets (only grpc and grpcs use it)", scheme)
	}
	if !v.ok("ping_keepalive", "ping_keepalive.interval") {
		return false
	}
	if !v.given("ping_keepalive.interval") {
		if v.setHere("ping_keepalive") {
			v.errorf("ping_keepalive.interval", "missing: %s needs interval, the client's time between pings (example: interval: 10s)", v.ref("ping_keepalive"))
			return false
		}
		return true
	}
	switch {
	case v.PingKeepalive.Interval <= 0:
		v.errorf("ping_keepalive.interval", "%s must be positive (example: 10s)", v.PingKeepalive.Interval)
		return false
	case scheme != "" && !slices.Contains(prober.PingSchemes, scheme):
		v.errorf("ping_keepalive.interval", "%s:// has no protocol ping (only %s do; use %s instead)", scheme, strings.Join(prober.PingSchemes, ", "), v.ref("tcp_keepalive"))
		return false
	case v.TCPKeepalive.Check() != nil:
		v.errorf("ping_keepalive.interval", "give either %s or %s, not both: a measurement asks one keepalive question", v.ref("tcp_keepalive"), v.ref("ping_keepalive"))
		return false
	}
	return true
}
