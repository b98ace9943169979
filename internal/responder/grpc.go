package responder

import (
	"context"

	"google.golang.org/grpc/health"
	"google.golang.org/grpc/health/grpc_health_v1"
)

// GRPCService is the health service name the responder reports SERVING,
// besides "" (the server as a whole).
const GRPCService = "idleprobe"

// grpcHealth is the state of grpc.health.v1.Health on the h2c port:
// grpc-go's health server, whose Check the h2c fast path calls
// (h2grpc.go) for every Health/Check call.
type grpcHealth struct {
	health *health.Server
}

func newGRPCHealth() *grpcHealth {
	h := health.NewServer() // "" is SERVING
	h.SetServingStatus(GRPCService, grpc_health_v1.HealthCheckResponse_SERVING)
	return &grpcHealth{health: h}
}

// check answers one Health/Check call: SERVING for "" and GRPCService,
// a NotFound status error otherwise.
func (g *grpcHealth) check(req *grpc_health_v1.HealthCheckRequest) (*grpc_health_v1.HealthCheckResponse, error) {
	return g.health.Check(context.Background(), req)
}
