package responder

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/coder/websocket"
)

// wsEcho answers WebSocket upgrades (on the HTTP port) and echoes every
// message back. It never pings and has no read timeout: an idle WebSocket
// is held until the client or the path ends it. It answers pings with
// pongs (the library does, while it waits for the next message).
type wsEcho struct {
	log *slog.Logger

	mu      sync.Mutex
	conns   map[*websocket.Conn]struct{}
	closing bool
	wg      sync.WaitGroup
}

func newWSEcho(log *slog.Logger) *wsEcho {
	return &wsEcho{log: log, conns: make(map[*websocket.Conn]struct{})}
}

// isUpgrade reports whether r asks for a WebSocket.
func isUpgrade(r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), "upgrade") {
				return true
			}
		}
	}
	return false
}

// serve handles r if it is a WebSocket upgrade and reports whether it did.
// The connection is hijacked from the HTTP server, so the echo keeps its
// own record of it for shutdown.
func (e *wsEcho) serve(w http.ResponseWriter, r *http.Request) bool {
	if r.ProtoMajor != 1 || !isUpgrade(r) {
		return false
	}
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return true
	}
	e.wg.Add(1)
	e.mu.Unlock()
	defer e.wg.Done()
	// Any origin: the responder has no cookies or state to protect.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		e.log.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return true
	}
	c.SetReadLimit(maxDrain)
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		_ = c.CloseNow()
		return true
	}
	e.conns[c] = struct{}{}
	e.mu.Unlock()
	e.log.Debug("websocket connection", "remote", r.RemoteAddr, "state", "new")
	n, err := e.echo(c)
	e.mu.Lock()
	delete(e.conns, c)
	e.mu.Unlock()
	_ = c.CloseNow()
	e.log.Debug("websocket connection", "remote", r.RemoteAddr, "state", "closed", "messages", n, "err", err)
	return true
}

// echo sends every message back until the connection ends.
func (e *wsEcho) echo(c *websocket.Conn) (int, error) {
	ctx := context.Background() // the connection ends by CloseNow on shutdown
	for n := 0; ; n++ {
		typ, data, err := c.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) != -1 || errors.Is(err, context.Canceled) {
				err = nil
			}
			return n, err
		}
		if err := c.Write(ctx, typ, data); err != nil {
			return n, err
		}
	}
}

// close ends every WebSocket connection and waits for their handlers.
func (e *wsEcho) close() {
	e.mu.Lock()
	e.closing = true
	for c := range e.conns {
		_ = c.CloseNow()
	}
	e.mu.Unlock()
	e.wg.Wait()
}
