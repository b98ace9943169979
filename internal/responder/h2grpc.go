package responder

import (
	"encoding/binary"
	"strconv"
	"strings"

	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// gRPC on the h2c fast path. The responder answers every gRPC call itself
// (gRPC's PROTOCOL-HTTP2.md): grpc.health.v1.Health/Check with grpc-go's
// health server (grpc.go), as HEADERS (:status 200, content-type
// application/grpc), one DATA frame (the 5-byte prefix and the
// HealthCheckResponse) and trailers (grpc-status 0); an error status, and
// any other method (Health/Watch included: a stream that never ends is
// not what a prober asks for) as a Trailers-Only response.

// h2MaxGRPCRequest bounds the request message kept (a health check's is a
// few bytes: the service name).
const h2MaxGRPCRequest = 16 << 10

// grpcCheckPath is the one method answered.
const grpcCheckPath = "/grpc.health.v1.Health/Check"

// answerGRPC answers a complete gRPC call on st.
func (h *h2Conn) answerGRPC(s *Server, x *h2IO, st *h2Stream) error {
	msg, err := s.grpcCall(st.path, st.body, st.bodyLen)
	st.body = nil
	fields := []hpack.HeaderField{{Name: ":status", Value: "200"}, {Name: "content-type", Value: "application/grpc"}}
	if err != nil {
		stt := status.Convert(err)
		fields = append(fields, hpack.HeaderField{Name: "grpc-status", Value: strconv.Itoa(int(stt.Code()))})
		if m := stt.Message(); m != "" {
			fields = append(fields, hpack.HeaderField{Name: "grpc-message", Value: encodeGRPCMessage(m)})
		}
		s.log.Debug("grpc call", "remote", h.remote, "path", st.path, "code", stt.Code().String())
		return h.respond(x, st, fields)
	}
	st.out = binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg)))
	st.out = append(st.out, msg...)
	st.trailers = []hpack.HeaderField{{Name: "grpc-status", Value: "0"}}
	s.log.Debug("grpc call", "remote", h.remote, "path", st.path, "code", codes.OK.String())
	return h.respond(x, st, fields)
}

// grpcCall runs the call of path with the length-prefixed request body
// (bodyLen bytes long, body holding up to h2MaxGRPCRequest of them) and
// returns the response message or a status error.
func (s *Server) grpcCall(path string, body []byte, bodyLen int64) ([]byte, error) {
	if path != grpcCheckPath {
		return nil, status.Errorf(codes.Unimplemented, "unknown method %s", path)
	}
	if bodyLen > h2MaxGRPCRequest {
		return nil, status.Errorf(codes.ResourceExhausted, "request larger than %d bytes", h2MaxGRPCRequest)
	}
	if len(body) < 5 {
		return nil, status.Error(codes.Internal, "malformed request: no length-prefixed message")
	}
	if body[0] != 0 {
		return nil, status.Error(codes.Unimplemented, "compressed request: no compression is supported")
	}
	if n := binary.BigEndian.Uint32(body[1:5]); uint64(n) != uint64(len(body)-5) {
		return nil, status.Errorf(codes.Internal, "malformed request: the prefix says %d bytes, %d came", n, len(body)-5)
	}
	var req grpc_health_v1.HealthCheckRequest
	if err := proto.Unmarshal(body[5:], &req); err != nil {
		return nil, status.Errorf(codes.Internal, "malformed request: %v", err)
	}
	resp, err := s.grpc.check(&req)
	if err != nil {
		return nil, err
	}
	return proto.Marshal(resp)
}

// encodeGRPCMessage percent-encodes grpc-message as gRPC asks: bytes
// outside printable ASCII, and '%'.
func encodeGRPCMessage(m string) string {
	var b strings.Builder
	for i := 0; i < len(m); i++ {
		c := m[i]
		if c < 0x20 || c > 0x7e || c == '%' {
			b.WriteByte('%')
			b.WriteString(strings.ToUpper(strconv.FormatUint(uint64(c)|0x100, 16)[1:]))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
