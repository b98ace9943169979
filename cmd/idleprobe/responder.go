package main

import (
	"context"
	"fmt"
	"time"

	"github.com/idleprobe/idleprobe/internal/responder"
)

const responderHelp = `
Serve HTTP/1.1, h2c, WebSocket and gRPC health, and TCP echo, holding every connection forever (measure the path, not the app).

A companion server that never closes an idle connection and never sends TCP keepalives. Deploy it behind the same Service or load balancer as your application and measure it: whatever limit idleprobe then finds belongs to the path (load balancer, NAT, conntrack), not to a server's own idle timeout.

  HTTP/1.1 and h2c (HTTP/2 with prior knowledge) on the same port: any
            method and path gets 200 with a small body; connections are
            kept alive, never closed for idleness and never pinged.
  WebSocket on the HTTP port: every message is echoed back; no ping,
            no read timeout.
  gRPC      on the HTTP port (h2c): grpc.health.v1.Health answers
            SERVING for "" and "idleprobe".
  TCP:      every byte received is echoed back.

Stops cleanly on Ctrl-C or SIGTERM.
`

func (c *cli) addResponder() {
	var httpAddr, tcpAddr *string
	var shutdown *time.Duration
	cmd := c.command("responder", responderHelp, "", "", func(ctx context.Context, _ []string) int {
		if *httpAddr == "" && *tcpAddr == "" {
			return c.usage("--http.listen-address: both listeners are disabled; set --http.listen-address or --tcp.listen-address")
		}
		log := c.logger()
		err := responder.Run(ctx, responder.Config{HTTPAddr: *httpAddr, TCPAddr: *tcpAddr, Logger: log}, *shutdown, func(s *responder.Server) {
			if a := s.HTTPAddr(); a != nil {
				log.Info("responder listening", "protocol", "http", "address", a.String())
			}
			if a := s.TCPAddr(); a != nil {
				log.Info("responder listening", "protocol", "tcp-echo", "address", a.String())
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
	shutdown = cmd.Flag("shutdown-timeout", "How long requests in flight may finish after a stop signal.").Default("5s").Duration()
}
