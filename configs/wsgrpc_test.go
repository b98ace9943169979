package configs

import (
	"strings"
	"testing"
	"time"
)

// TestWSGRPCSettings: websocket, grpc and ping_keepalive reach the
// measurement, and their rules are enforced with the field's line.
func TestWSGRPCSettings(t *testing.T) {
	cfg, warns := mustParse(t, `
paths:
  - name: chat
    target: wss://chat.example/socket
    websocket:
      send: "hello"
      expect: "hi"
    ping_keepalive:
      interval: 15s
  - name: orders
    target: grpc://192.0.2.7:50051
    grpc:
      health_service: orders.v1.Orders
`, "wsgrpc.yml")
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	chat, _ := cfg.Path("chat")
	checkMeasurable(t, chat)
	_, o := chat.Measurement()
	if string(o.Transport.Send) != "hello" || string(o.Transport.Expect) != "hi" {
		t.Errorf("ws send/expect %q/%q, want hello/hi", o.Transport.Send, o.Transport.Expect)
	}
	if k := o.Keepalive; k == nil || !k.Ping || k.Interval != 15*time.Second {
		t.Errorf("keepalive check %+v, want a ping every 15s", k)
	}
	if wc := chat.WorstCase(); wc <= chat.EffectiveDeadline() {
		t.Errorf("worst case %s does not include the ping check's hold", wc)
	}
	orders, _ := cfg.Path("orders")
	checkMeasurable(t, orders)
	if _, o := orders.Measurement(); o.Transport.GRPCService != "orders.v1.Orders" || o.Keepalive != nil {
		t.Errorf("grpc service %q keepalive %+v, want orders.v1.Orders and no check", o.Transport.GRPCService, o.Keepalive)
	}

	for _, tc := range []struct{ name, src, want string }{
		{"ping-on-http", "target: http://h/\n    ping_keepalive:\n      interval: 5s", "x.yml:5: paths[0].ping_keepalive.interval: http:// has no protocol ping"},
		{"ping-and-tcp", "target: ws://h/\n    tcp_keepalive:\n      idle: 30s\n    ping_keepalive:\n      interval: 5s", "paths[0].ping_keepalive.interval: give either tcp_keepalive or ping_keepalive, not both"},
		{"ping-negative", "target: grpc://h:1\n    ping_keepalive:\n      interval: -5s", "paths[0].ping_keepalive.interval: -5s must be positive"},
		{"empty-send", "target: ws://h/\n    websocket:\n      send: \"\"", "paths[0].websocket.send: must not be empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse([]byte("paths:\n  - name: p\n    "+tc.src+"\n"), "x.yml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	_, warns, err := Parse([]byte("paths:\n  - name: p\n    target: ws://h/\n    request:\n      method: POST\n"), "x.yml")
	if err != nil || len(warns) != 1 || !strings.Contains(warns[0].String(), "request: method and body are ignored for ws targets") {
		t.Errorf("request.method on ws: warnings %v, err %v, want one warning", warns, err)
	}
	_, warns, err = Parse([]byte("paths:\n  - name: p\n    target: http://h/\n    grpc:\n      health_service: x\n"), "x.yml")
	if err != nil || len(warns) != 1 || !strings.Contains(warns[0].String(), "grpc: is ignored for http targets") {
		t.Errorf("grpc on http: warnings %v, err %v, want one warning", warns, err)
	}
}
