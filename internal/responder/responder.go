// Package responder is the companion server of idleprobe: it answers
// HTTP/1.1, cleartext HTTP/2 with prior knowledge (h2c), WebSocket (echo)
// and gRPC health checks on its HTTP port, and raw TCP (echo), and holds
// every connection for as long as the client wants. Its UDP service
// (udp.go, package udpwire) and push service (push.go, package pushwire)
// answer udp:// targets and the server direction of tcp://. Deployed
// behind the same Service or load balancer as the real application, it lets
// idleprobe measure the path itself instead of the application's own idle
// timeout.
//
// Held connections are cheap (hold.go): plain HTTP/1.x requests, h2c
// (h2c.go, gRPC health checks included) and the echo are answered by the
// responder's own loops, which keep no buffer and no deep stack while a
// connection is idle; everything else on the HTTP port (upgrades such as
// WebSocket) goes to net/http with the same handler, serveHTTP.
package responder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Config says where the responder listens. An empty address disables that
// listener; at least one must be set.
type Config struct {
	// HTTPAddr is the HTTP/1.1 and h2c listen address, e.g. ":8080" or
	// "127.0.0.1:0".
	HTTPAddr string
	// TCPAddr is the TCP echo listen address, e.g. ":9090".
	TCPAddr string
	// UDPAddr is the UDP service's listen address (package udpwire), e.g.
	// ":9090".
	UDPAddr string
	// PushAddr is the TCP push service's listen address (package
	// pushwire), e.g. ":9092".
	PushAddr string
	// Logger receives connection logs at debug level; nil discards them.
	Logger *slog.Logger
}

// Body is what every HTTP request is answered with.
const Body = "idleprobe responder: ok\n"

// Server is a running responder. Create it with Start and stop it with
// Shutdown.
type Server struct {
	log    *slog.Logger
	httpLn net.Listener
	tcpLn  net.Listener
	srv    *http.Server
	udp    *UDPServer
	push   *PushServer
	// h1 hands net/http the HTTP connections the fast path (http1.go)
	// does not answer; both answer with srv.Handler.
	h1 *handoff

	wg       sync.WaitGroup // accept loops and held connections
	mu       sync.Mutex
	conns    map[net.Conn]struct{} // connections held by the responder's own loops
	stopping bool

	ws   *wsEcho     // WebSocket echo on the HTTP port
	grpc *grpcHealth // gRPC health service on the HTTP port (h2c.go)

	shutdownOnce sync.Once
	shutdownErr  error
}

// listenConfig turns off TCP keepalive on accepted connections: the
// responder must never refresh an idle path by itself.
var listenConfig = net.ListenConfig{KeepAlive: -1}

// Start opens the configured listeners and serves them in the background.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.HTTPAddr == "" && cfg.TCPAddr == "" && cfg.UDPAddr == "" && cfg.PushAddr == "" {
		return nil, errors.New("responder: no listen address (set the HTTP, TCP, UDP or push address)")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{log: log, conns: make(map[net.Conn]struct{}), ws: newWSEcho(log), grpc: newGRPCHealth()}
	if cfg.HTTPAddr != "" {
		ln, err := listenConfig.Listen(ctx, "tcp", cfg.HTTPAddr)
		if err != nil {
			return nil, fmt.Errorf("responder: HTTP listen address %q: %w", cfg.HTTPAddr, err)
		}
		s.httpLn = ln
	}
	if cfg.TCPAddr != "" {
		ln, err := listenConfig.Listen(ctx, "tcp", cfg.TCPAddr)
		if err != nil {
			if s.httpLn != nil {
				s.httpLn.Close()
			}
			return nil, fmt.Errorf("responder: TCP listen address %q: %w", cfg.TCPAddr, err)
		}
		s.tcpLn = ln
	}
	if err := s.startServices(ctx, cfg); err != nil {
		return nil, err
	}
	if s.httpLn != nil {
		// HTTP/1.1 only: h2c with prior knowledge never reaches net/http
		// (the fast path takes the HTTP/2 preface, h2c.go).
		var protocols http.Protocols
		protocols.SetHTTP1(true)
		s.h1 = newHandoff(s.httpLn.Addr())
		s.srv = &http.Server{
			Protocols: &protocols,
			Handler:   http.HandlerFunc(s.serveHTTP),
			// No timeouts at all: an idle keep-alive connection is held
			// until the client (or the path) ends it. IdleTimeout 0 falls
			// back to ReadTimeout, which is 0 too: never.
			IdleTimeout:       0,
			ReadTimeout:       0,
			ReadHeaderTimeout: 0,
			WriteTimeout:      0,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
			ConnState: func(c net.Conn, st http.ConnState) {
				if st == http.StateNew || st == http.StateClosed {
					log.Debug("http connection", "remote", c.RemoteAddr().String(), "state", st.String())
				}
			},
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := s.srv.Serve(s.h1); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("http server stopped", "err", err)
			}
		}()
		s.wg.Add(1)
		go s.acceptHTTP()
	}
	if s.tcpLn != nil {
		s.wg.Add(1)
		go s.acceptEcho()
	}
	return s, nil
}

// HTTPAddr is the address the HTTP listener is bound to, or nil.
func (s *Server) HTTPAddr() net.Addr {
	if s.httpLn == nil {
		return nil
	}
	return s.httpLn.Addr()
}

// TCPAddr is the address the echo listener is bound to, or nil.
func (s *Server) TCPAddr() net.Addr {
	if s.tcpLn == nil {
		return nil
	}
	return s.tcpLn.Addr()
}

// maxDrain bounds how much of a request body is read to keep the
// connection reusable.
const maxDrain = 1 << 20

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if s.ws.serve(w, r) {
		return
	}
	// Read the whole request body so that the connection stays usable.
	n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, maxDrain))
	s.log.Debug("http request", "remote", r.RemoteAddr, "method", r.Method, "path", r.URL.Path, "body_bytes", n)
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	if r.ProtoMajor == 1 && (r.ProtoAtLeast(1, 1) || r.Header.Get("Connection") == "keep-alive") {
		h.Set("Connection", "keep-alive")
	}
	if r.Method == http.MethodHead {
		h.Set("Content-Length", fmt.Sprint(len(Body)))
		w.WriteHeader(http.StatusOK)
		return
	}
	io.WriteString(w, Body)
}

func (s *Server) acceptEcho() {
	defer s.wg.Done()
	for {
		c, err := s.tcpLn.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Error("tcp echo accept failed", "err", err)
			}
			return
		}
		tc := c.(*net.TCPConn)
		if s.track(tc) {
			s.log.Debug("tcp connection", "remote", tc.RemoteAddr().String(), "state", "new")
			s.spawn(tc, s.echo)
		}
	}
}

// echoPool holds the echo's buffers: a connection has one only while bytes
// are being echoed.
var echoPool = sync.Pool{New: func() any { b := make([]byte, 16<<10); return &b }}

// echo sends back every byte received, holding the connection without a
// buffer between bursts, and passes the client's FIN on.
func (s *Server) echo(c *net.TCPConn) {
	var n int64
	var err error
	for {
		if err = waitReadable(c); err != nil {
			break
		}
		buf := echoPool.Get().(*[]byte)
		var r int
		r, err = c.Read(*buf)
		if r > 0 {
			_, werr := c.Write((*buf)[:r])
			n += int64(r)
			if err == nil {
				err = werr
			}
		}
		echoPool.Put(buf)
		if err != nil {
			break
		}
	}
	if errors.Is(err, io.EOF) {
		c.CloseWrite() // pass the client's FIN on, then close
	}
	s.log.Debug("tcp connection ended", "remote", c.RemoteAddr().String(), "bytes", n, "err", err)
	s.drop(c, "tcp", nil)
}

// Shutdown stops the listeners and closes every connection. Requests in
// flight may finish until ctx ends; then their connections are closed too.
// It waits for all of the responder's goroutines and is safe to call more
// than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	var errs []error
	if s.srv != nil {
		if err := s.srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			s.srv.Close()
		}
	}
	s.ws.close()
	s.mu.Lock()
	s.stopping = true
	if s.tcpLn != nil {
		s.tcpLn.Close()
	}
	if s.httpLn != nil {
		s.httpLn.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	s.stopServices()
	return errors.Join(errs...)
}

// Run starts a responder and serves until ctx ends, then shuts it down,
// giving requests in flight up to grace to finish. ready, when not nil, is
// called with the running server once it listens.
func Run(ctx context.Context, cfg Config, grace time.Duration, ready func(*Server)) error {
	s, err := Start(ctx, cfg)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(s)
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	return s.Shutdown(sctx)
}
