package prober

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
)

// gRPC over HTTP/2 on connections idleprobe owns: the HTTP/2 transport
// (h2.go) with a grpc.health.v1.Health/Check call as its request. The first
// exchange and every reuse are one call on a new stream. Nothing is sent
// while idle: no gRPC keepalive, no HTTP/2 PING (only the ping check
// pings). A GOAWAY while idle (grpc-go's MaxConnectionIdle, or
// MaxConnectionAge) is the idle close at that moment; the planner's two
// clocks tell an idle limit from a lifetime. grpc-go's client is not used:
// it owns its connections (reconnects, pools subchannels, pings on its own
// keepalive schedule), which would decide for us.

// grpcHealthPath is the method every exchange calls.
const grpcHealthPath = "/grpc.health.v1.Health/Check"

// grpcTransport opens gRPC connections: grpc (h2c) or grpcs (TLS, ALPN h2).
type grpcTransport struct {
	h2      *h2Transport
	service string
	ping    time.Duration // the ping check's interval; 0 for trials
}

func newGRPCTransport(t Target, d *dialer, o TransportOptions, cfg *tls.Config) (*grpcTransport, error) {
	scheme := "http"
	if cfg != nil {
		scheme = "https"
		cfg = cfg.Clone()
		cfg.NextProtos = []string{"h2"}
	}
	host := t.URL.Host
	if o.Host != "" {
		host = o.Host
	}
	fields := []hpack.HeaderField{
		{Name: ":method", Value: http.MethodPost},
		{Name: ":scheme", Value: scheme},
		{Name: ":authority", Value: host},
		{Name: ":path", Value: grpcHealthPath},
		{Name: "content-type", Value: "application/grpc"},
		{Name: "te", Value: "trailers"},
	}
	hasUA := false
	for _, k := range sortedNames(o.Header) {
		lk := strings.ToLower(k)
		switch {
		case lk == "host", lk == "content-type", lk == "te", strings.HasPrefix(lk, "grpc-"):
			return nil, fmt.Errorf("header %s: set by the gRPC call itself; remove it", http.CanonicalHeaderKey(k))
		}
		for _, v := range o.Header[k] {
			fields = append(fields, hpack.HeaderField{Name: lk, Value: v})
		}
		hasUA = hasUA || lk == "user-agent"
	}
	if !hasUA {
		fields = append(fields, hpack.HeaderField{Name: "user-agent", Value: userAgent})
	}
	msg, err := proto.Marshal(&grpc_health_v1.HealthCheckRequest{Service: o.GRPCService})
	if err != nil {
		return nil, fmt.Errorf("grpc health service %q: %w", o.GRPCService, err)
	}
	body := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg)))
	body = append(body, msg...)
	gt := &grpcTransport{service: o.GRPCService, ping: o.ping}
	gt.h2 = &h2Transport{target: t, d: d, tls: cfg, fields: fields, body: body, answer: gt.answer}
	return gt, nil
}

// grpcStatusError is a call that did not succeed: a grpc-status other than
// OK, or a health answer of SERVICE_UNKNOWN.
type grpcStatusError struct {
	code    codes.Code
	message string
}

func (e *grpcStatusError) Error() string {
	s := fmt.Sprintf("grpc-status %d %s", uint32(e.code), e.code)
	if e.message != "" {
		s += ": " + e.message
	}
	return s
}

// answer checks one Health/Check response. A first exchange must succeed;
// on a reuse any well-formed gRPC answer shows that the path carried the
// call (a proxy's UNAVAILABLE is its upstream's trouble, not this
// connection's), and the status is the detail.
func (t *grpcTransport) answer(r *h2Response, first bool) (string, error) {
	serving, err := parseGRPCAnswer(r.status, r.fields, r.trailers, r.body)
	var se *grpcStatusError
	if err != nil && !first && errors.As(err, &se) {
		return se.Error(), nil
	}
	return serving, err
}

// parseGRPCAnswer reads a unary gRPC response (RFC-less, as in gRPC's
// PROTOCOL-HTTP2.md): HTTP status 200, content-type application/grpc,
// grpc-status in the trailers (or alone in the headers, "Trailers-Only"),
// and, on OK, one length-prefixed HealthCheckResponse. It returns the
// serving status ("SERVING").
func parseGRPCAnswer(status string, fields, trailers []hpack.HeaderField, body []byte) (string, error) {
	if !strings.HasPrefix(status, "200") {
		return "", fmt.Errorf("malformed gRPC response: HTTP status %s (is this a gRPC server?)", oneLine(status))
	}
	get := func(fs []hpack.HeaderField, name string) (string, bool) {
		for _, f := range fs {
			if f.Name == name {
				return f.Value, true
			}
		}
		return "", false
	}
	if ct, _ := get(fields, "content-type"); !strings.HasPrefix(ct, "application/grpc") {
		return "", fmt.Errorf("malformed gRPC response: content-type %q, not application/grpc (is this a gRPC server?)", oneLine(ct))
	}
	src := trailers
	if src == nil {
		src = fields // Trailers-Only
	}
	gs, ok := get(src, "grpc-status")
	if !ok {
		return "", errors.New("malformed gRPC response: no grpc-status")
	}
	code, err := strconv.ParseUint(gs, 10, 32)
	if err != nil {
		return "", fmt.Errorf("malformed gRPC response: grpc-status %q", oneLine(gs))
	}
	if code != 0 {
		msg, _ := get(src, "grpc-message")
		if m, err := decodeGRPCMessage(msg); err == nil {
			msg = m
		}
		return "", &grpcStatusError{code: codes.Code(code), message: oneLine(msg)}
	}
	if len(body) < 5 {
		return "", fmt.Errorf("malformed gRPC response: %d bytes of message, want a 5-byte prefix and the message", len(body))
	}
	if body[0] != 0 {
		return "", errors.New("malformed gRPC response: compressed message (none was offered)")
	}
	n := binary.BigEndian.Uint32(body[1:5])
	if uint64(n) != uint64(len(body)-5) {
		return "", fmt.Errorf("malformed gRPC response: message prefix says %d bytes, %d came", n, len(body)-5)
	}
	var hr grpc_health_v1.HealthCheckResponse
	if err := proto.Unmarshal(body[5:], &hr); err != nil {
		return "", fmt.Errorf("malformed gRPC response: health answer: %s", oneLine(err.Error()))
	}
	if hr.Status == grpc_health_v1.HealthCheckResponse_SERVICE_UNKNOWN {
		return "", &grpcStatusError{code: codes.NotFound, message: "health status SERVICE_UNKNOWN"}
	}
	return hr.Status.String(), nil
}

// decodeGRPCMessage undoes grpc-message's percent-encoding.
func decodeGRPCMessage(s string) (string, error) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			v, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", err
			}
			b.WriteByte(byte(v))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String(), nil
}

// Open connects, completes TLS (grpcs) and the HTTP/2 preface, and makes
// the first health check call.
func (t *grpcTransport) Open(ctx context.Context) (Conn, error) {
	c, err := t.h2.Open(ctx)
	if err != nil {
		var se *grpcStatusError
		switch {
		case errors.As(err, &se) && se.code == codes.NotFound:
			return nil, unusable(fmt.Sprintf("gRPC health check at %s: the server does not know service %q (%s); set the health service name to one it serves (empty: the whole server)", t.h2.target, t.service, se), err)
		case errors.As(err, &se) && se.code == codes.Unimplemented:
			return nil, unusable(fmt.Sprintf("gRPC health check at %s: the server has no grpc.health.v1.Health service (%s); measure the idleprobe responder behind the same hop instead", t.h2.target, se), err)
		case errors.As(err, &se):
			return nil, unusable(fmt.Sprintf("gRPC health check at %s failed: %s", t.h2.target, se), err)
		}
		if errors.Is(err, ErrUnusable) {
			msg := strings.Replace(err.Error(), "first HTTP/2 request to", "first gRPC health check at", 1)
			msg = strings.Replace(msg, "(try https://)", "(is this a gRPC server?)", 1)
			msg = strings.Replace(msg, "(try http://)", "(is this a gRPC server?)", 1)
			return nil, unusable(msg, err)
		}
		return nil, err
	}
	gc := &grpcConn{h2Conn: c.(*h2Conn), t: t}
	gc.startPing()
	return gc, nil
}

// grpcConn is one gRPC connection under test: an HTTP/2 connection whose
// requests are health checks, with the ping check's pinger when asked for.
type grpcConn struct {
	*h2Conn
	t    *grpcTransport
	ping *pinger
}

// Reuse makes one more health check call on a new stream.
func (c *grpcConn) Reuse(ctx context.Context) Reply {
	c.ping.halt()
	c.ping = nil
	r := c.h2Conn.Reuse(ctx)
	if r.Outcome.Survived() && !r.Retired {
		c.startPing()
	}
	return r
}

// startPing starts the ping check's pinger, when asked for.
func (c *grpcConn) startPing() {
	if c.t.ping > 0 {
		c.ping = startPinger(c.t.ping, c.IdleSince(), c.sendPing)
	}
}

// sendPing writes one HTTP/2 PING (the ping check only). It may run while
// the idle decoder reads: reads and writes do not share state.
func (c *grpcConn) sendPing() error {
	var f [9 + 8]byte
	f[2] = 8 // length
	f[3] = byte(http2.FramePing)
	copy(f[9:], "idlepro!")
	_, err := c.rw.Write(f[:])
	return err
}

// Close stops the pinger and closes the connection.
func (c *grpcConn) Close() error {
	c.ping.halt()
	c.ping = nil
	return c.h2Conn.Close()
}
