package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/idleprobe/idleprobe/internal/responder"
)

func init() {
	register(command{
		name:    "responder",
		summary: "serve HTTP/1.1, h2c and TCP echo, holding every connection forever (measure the path, not the app)",
		run:     runResponder,
	})
}

const responderHelp = `
Usage: idleprobe responder [flags]

A companion server that never closes an idle connection and never sends TCP
keepalives. Deploy it behind the same Service or load balancer as your
application and measure it: whatever limit idleprobe then finds belongs to the
path (load balancer, NAT, conntrack), not to a server's own idle timeout.

  HTTP/1.1 and h2c (HTTP/2 with prior knowledge) on the same port: any
            method and path gets 200 with a small body; connections are
            kept alive, never closed for idleness and never pinged.
  TCP:      every byte received is echoed back.

Stops cleanly on Ctrl-C or SIGTERM.
`

func runResponder(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("responder")
	httpAddr := fs.String("http.listen-address", ":8080", "HTTP/1.1 and h2c listen `address`; empty disables HTTP.")
	tcpAddr := fs.String("tcp.listen-address", ":9090", "TCP echo listen `address`; empty disables TCP echo.")
	grace := 5 * time.Second
	fs.Var(durationValue{&grace}, "shutdown-timeout", "How long requests in flight may finish after a stop signal (`duration`).")
	lf := addLogFlags(fs)
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout, fs, responderHelp)
		return exitOK
	}
	if err != nil {
		return usageError(stderr, flagError("responder", err))
	}
	if len(pos) > 0 {
		return usageError(stderr, fmt.Sprintf("responder takes no arguments, got %q", pos[0]))
	}
	if *httpAddr == "" && *tcpAddr == "" {
		return usageError(stderr, "--http.listen-address: both listeners are disabled; set --http.listen-address or --tcp.listen-address")
	}
	log := lf.logger(stderr)
	err = responder.Run(ctx, responder.Config{HTTPAddr: *httpAddr, TCPAddr: *tcpAddr, Logger: log}, grace, func(s *responder.Server) {
		if a := s.HTTPAddr(); a != nil {
			log.Info("responder listening", "protocol", "http", "address", a.String())
		}
		if a := s.TCPAddr(); a != nil {
			log.Info("responder listening", "protocol", "tcp-echo", "address", a.String())
		}
	})
	if err != nil {
		fmt.Fprintf(stderr, "idleprobe: responder: %s\n", oneLine(err.Error()))
		return exitFailed
	}
	log.Info("responder stopped")
	return exitOK
}
