package responder

import (
	"net/http"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
)

// GRPCService is the health service name the responder reports SERVING,
// besides "" (the server as a whole).
const GRPCService = "idleprobe"

// grpcHealth serves grpc.health.v1.Health on the h2c port, through
// grpc-go's handler transport: HTTP/2 itself (and so its idle handling and
// PINGs) stays with net/http's server, which never times out or pings.
type grpcHealth struct {
	srv *grpc.Server
}

func newGRPCHealth() *grpcHealth {
	srv := grpc.NewServer()
	h := health.NewServer() // "" is SERVING
	h.SetServingStatus(GRPCService, grpc_health_v1.HealthCheckResponse_SERVING)
	grpc_health_v1.RegisterHealthServer(srv, h)
	return &grpcHealth{srv: srv}
}

// serve handles r if it is a gRPC call and reports whether it did.
func (g *grpcHealth) serve(w http.ResponseWriter, r *http.Request) bool {
	if r.ProtoMajor != 2 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
		return false
	}
	g.srv.ServeHTTP(w, r)
	return true
}

// stop ends the calls in flight.
func (g *grpcHealth) stop() { g.srv.Stop() }
