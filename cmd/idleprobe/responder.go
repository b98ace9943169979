package main

import (
	"context"
	"fmt"
	"time"

	"github.com/idleprobe/idleprobe/internal/responder"
)

const responderHelp = `
Serve HTTP/1.1, h2c, WebSocket and gRPC health, TCP echo, UDP and TCP push, holding every connection forever (measure the path, not the app).

A companion server that never closes an idle connection and never sends TCP keepalives. Deploy it behind the same Service or load balancer as your application and measure it: whatever limit idleprobe then finds belongs to the path (load balancer, NAT, conntrack), not to a server's own idle timeout.

  HTTP/1.1 and h2c (HTTP/2 with prior knowledge) on the same port: any
            method and path gets 200 with a small body; connections are
            kept alive, never closed for idleness and never pinged.
  WebSocket on the HTTP port: every message is echoed back; no ping,
            no read timeout.
  gRPC      on the HTTP port (h2c): grpc.health.v1.Health answers
            SERVING for "" and "idleprobe".
  TCP:      every byte received is echoed back.
  UDP:      the udp:// prober's binding test (IDLEPROBE-UDP/1): answers
            only padded requests, never with more bytes than it got, and
            sends only to an address that registered itself.
  Push:     the server direction of tcp:// (IDLEPROBE-PUSH/1): holds a
            connection that asked for it and, when a second connection
            asks, writes one line on it.

Stops cleanly on Ctrl-C or SIGTERM.
`

func (c *cli) addResponder() {
	var httpAddr, tcpAddr, udpAddr, pushAddr *string
	var shutdown *time.Duration
	cmd := c.command("responder", responderHelp, "", "", func(ctx context.Context, _ []string) int {
		if *httpAddr == "" && *tcpAddr == "" && *udpAddr == "" && *pushAddr == "" {
			return c.usage("--http.listen-address: every listener is disabled; set --http.listen-address, --tcp.listen-address, --udp.listen-address or --push.listen-address")
		}
		log := c.logger()
		err := responder.Run(ctx, responder.Config{HTTPAddr: *httpAddr, TCPAddr: *tcpAddr, UDPAddr: *udpAddr, PushAddr: *pushAddr, Logger: log}, *shutdown, func(s *responder.Server) {
			if a := s.HTTPAddr(); a != nil {
				log.Info("responder listening", "protocol", "http", "address", a.String())
			}
			if a := s.TCPAddr(); a != nil {
				log.Info("responder listening", "protocol", "tcp-echo", "address", a.String())
			}
			if a := s.UDPAddr(); a != nil {
				log.Info("responder listening", "protocol", "udp", "address", a.String())
			}
			if a := s.PushAddr(); a != nil {
				log.Info("responder listening", "protocol", "tcp-push", "address", a.String())
			}
		})
		if err != nil {
			return c.exit(fmt.Errorf("responder: %s", oneLine(err.Error())))
		}
		log.Info("responder stopped")
		return exitOK
	})
	httpAddr = cmd.Flag("http.listen-address", "HTTP/1.1 and h2c listen address; empty disables HTTP.").Default(":8080").String()
	tcpAddr = cmd.Flag("tcp.listen-address", "TCP echo listen address; empty disables TCP echo.").Default(":9090").String()
	udpAddr = cmd.Flag("udp.listen-address", "UDP listen address (udp:// targets); empty disables UDP.").Default(":9090").String()
	pushAddr = cmd.Flag("push.listen-address", "TCP push listen address (tcp:// targets measured with --direction server); empty disables push.").Default(":9092").String()
	shutdown = cmd.Flag("shutdown-timeout", "How long requests in flight may finish after a stop signal.").Default("5s").Duration()
}
