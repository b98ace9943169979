package responder

import (
	"context"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// TestWebSocketEcho: the HTTP port upgrades WebSockets and echoes every
// message, text and binary; shutdown ends the hijacked connection.
func TestWebSocketEcho(t *testing.T) {
	s := start(t, Config{HTTPAddr: "127.0.0.1:0"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+s.HTTPAddr().String()+"/any", nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.CloseNow()
	for _, m := range []struct {
		typ  websocket.MessageType
		data string
	}{{websocket.MessageText, "idleprobe 1"}, {websocket.MessageBinary, "\x00\xff"}} {
		if err := c.Write(ctx, m.typ, []byte(m.data)); err != nil {
			t.Fatalf("Write: %v", err)
		}
		typ, data, err := c.Read(ctx)
		if err != nil || typ != m.typ || string(data) != m.data {
			t.Fatalf("Read = %v %q %v, want %v %q", typ, data, err, m.typ, m.data)
		}
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, _, err := c.Read(ctx); err == nil {
		t.Fatal("the WebSocket survived Shutdown")
	}
}

// TestGRPCHealth: grpc-go's client gets SERVING for "" and "idleprobe" over
// h2c on the HTTP port, and NOT_FOUND for a service the responder does not
// serve.
func TestGRPCHealth(t *testing.T) {
	s := start(t, Config{HTTPAddr: "127.0.0.1:0"})
	cc, err := grpc.NewClient(s.HTTPAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	h := grpc_health_v1.NewHealthClient(cc)
	for _, svc := range []string{"", GRPCService} {
		r, err := h.Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: svc})
		if err != nil || r.Status != grpc_health_v1.HealthCheckResponse_SERVING {
			t.Errorf("Check(%q) = %v, %v, want SERVING", svc, r, err)
		}
	}
	if _, err := h.Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("Check(nope) error %v, want NotFound", err)
	}
}
