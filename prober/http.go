package prober

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/idleprobe/idleprobe/prober/plan"
)

const (
	// maxResponseBytes caps the bytes read for one response (headers and
	// body); a bigger response is an Error.
	maxResponseBytes = 1 << 20
	// maxInterim caps the 1xx responses skipped before the final one.
	maxInterim = 8
	// userAgent identifies idleprobe's requests.
	userAgent = "idleprobe/1"
)

// httpTransport speaks HTTP/1.1 with keep-alive over plain TCP or TLS,
// on connections it owns (no http.Transport pooling or retries).
type httpTransport struct {
	target  Target
	d       *dialer
	method  string
	request []byte      // the complete request, built once
	tls     *tls.Config // nil for plain http; never modified
}

func newHTTPTransport(t Target, d *dialer, o TransportOptions, cfg *tls.Config) (*httpTransport, error) {
	req, method, err := buildRequest(t, o)
	if err != nil {
		return nil, err
	}
	return &httpTransport{target: t, d: d, method: method, request: req, tls: cfg}, nil
}

// buildRequest renders the request idleprobe sends on every exchange.
func buildRequest(t Target, o TransportOptions) ([]byte, string, error) {
	method, host, err := requestLine(t, o)
	if err != nil {
		return nil, "", err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, t.URL.RequestURI(), host)
	hasUA := false
	for _, k := range sortedNames(o.Header) {
		ck := http.CanonicalHeaderKey(k)
		if ck == "Host" {
			continue
		}
		for _, v := range o.Header[k] {
			fmt.Fprintf(&b, "%s: %s\r\n", ck, v)
		}
		hasUA = hasUA || ck == "User-Agent"
	}
	if !hasUA {
		fmt.Fprintf(&b, "User-Agent: %s\r\n", userAgent)
	}
	if len(o.Body) > 0 || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch {
		fmt.Fprintf(&b, "Content-Length: %d\r\n", len(o.Body))
	}
	b.WriteString("Connection: keep-alive\r\n\r\n")
	b.Write(o.Body)
	return b.Bytes(), method, nil
}

// Open connects, completes the TLS handshake for https, and makes one
// request. A server that does not keep the connection alive after it
// cannot be measured.
func (t *httpTransport) Open(ctx context.Context) (Conn, error) {
	octx, cancel := openDeadline(ctx, t.d.timeout)
	defer cancel()
	raw, rc, err := t.d.dial(octx)
	if err != nil {
		return nil, err
	}
	wc := newWatchedConn(raw, rc, true)
	c := &httpConn{watchedConn: wc, t: t, rw: replayConn{wc}}
	if t.tls != nil {
		tc := tls.Client(c.rw, t.tls.Clone())
		if err := tc.HandshakeContext(octx); err != nil {
			raw.Close()
			return nil, handshakeError(octx, ctx, t.d.address, t.d.timeout, err)
		}
		if p := tc.ConnectionState().NegotiatedProtocol; p != "" && p != "http/1.1" {
			raw.Close()
			return nil, unusable(fmt.Sprintf("TLS handshake with %s: server chose protocol %q, want http/1.1", t.d.address, p), nil)
		}
		c.rw = tc
	}
	c.budget = &budgetReader{r: c.rw}

	ex := c.exchange(octx)
	if ex.err != nil {
		raw.Close()
		if ctx.Err() == context.Canceled {
			return nil, fmt.Errorf("first request to %s: %w", t.target, ctx.Err())
		}
		_, detail := classify(ex.err, c.acked)
		return nil, unusable(fmt.Sprintf("first request to %s failed: %s", t.target, detail), ex.err)
	}
	if ex.close {
		raw.Close()
		return nil, unusable(fmt.Sprintf("%s does not keep connections alive: it answered %q with Connection: close (or HTTP/1.0 without keep-alive); nothing to measure", t.target, ex.status), nil)
	}
	c.hints = ex.hints
	c.setIdleSince(ex.end)
	c.watch()
	return c, nil
}

// httpConn is one kept-alive HTTP/1.1 connection under test.
type httpConn struct {
	*watchedConn
	t      *httpTransport
	rw     net.Conn // replayConn or *tls.Conn over it
	budget *budgetReader
	// br reads responses. It is taken from readerPool for an exchange and
	// given back after it, so an idle connection holds no read buffer;
	// it is kept only while it holds bytes the server sent beyond a response.
	br    *bufio.Reader
	hints Hints // from the latest response
	// retired: the server ended the connection after the last response
	// (Connection: close). The caller closes it; it is never reused.
	retired bool
}

// Hints returns what the latest response's Keep-Alive header advertised.
func (c *httpConn) Hints() Hints { return c.hints }

// Reuse stops the watcher, sends the request and reads the full response.
// A response that ends the connection (Connection: close, or HTTP/1.0
// without keep-alive) is OK and Retired: the path carried the request, and
// the server retired the connection (after N requests, or at a lifetime).
func (c *httpConn) Reuse(ctx context.Context) Reply {
	if c.retired {
		now := time.Now()
		return Reply{Outcome: plan.Error, Start: now, End: now, Detail: errRetired.Error()}
	}
	if r, ok := c.beginReuse(true); !ok {
		return r
	}
	jctx, stop := c.judge(ctx)
	ex := c.exchange(jctx)
	stop()
	if ex.err != nil {
		out, detail := classify(ex.err, c.acked)
		if ex.start.IsZero() {
			ex.start = ex.end
		}
		c.endReuse(false, time.Time{})
		return Reply{Outcome: out, Start: ex.start, End: ex.end, Detail: detail}
	}
	c.hints = ex.hints
	if ex.close {
		// The path survived (a full response), but the server ends the
		// connection now: it cannot be watched or reused again.
		c.retired = true
		c.endReuse(false, time.Time{})
		return Reply{Outcome: plan.OK, Start: ex.start, End: ex.end, Retired: true,
			Detail: ex.status + "; server closed the connection after the response (" + ex.closeWhy + ")"}
	}
	c.endReuse(true, ex.end)
	return Reply{Outcome: plan.OK, Start: ex.start, End: ex.end, Detail: ex.status}
}

// exchangeResult is what one request/response exchange gave.
type exchangeResult struct {
	start, end time.Time
	status     string // "200 OK"
	close      bool   // the server will close the connection
	closeWhy   string // "Connection: close" or "HTTP/1.0 without keep-alive"
	hints      Hints  // the response's Keep-Alive header
	err        error
}

// exchange writes the request and reads the whole response, bounded by the
// timeout and ctx. The watcher must not be running.
func (c *httpConn) exchange(ctx context.Context) (ex exchangeResult) {
	// The timeout runs from the first byte of the reuse.
	ex.start = time.Now()
	done := c.withDeadline(ctx, ioDeadline(ctx, ex.start, c.t.d.timeout))
	defer done(&ex.err) // a timeout by ctx: canceled, the caller's deadline, or a black hole

	if _, err := c.rw.Write(c.t.request); err != nil {
		ex.end, ex.err = time.Now(), err
		return ex
	}
	c.budget.n = maxResponseBytes
	if c.br == nil {
		c.br = readerPool.Get().(*bufio.Reader)
		c.br.Reset(c.budget)
	}
	defer c.releaseReader()
	// Tell "closed before any answer" (EOF) from "closed mid-response".
	if _, err := c.br.Peek(1); err != nil {
		ex.end, ex.err = time.Now(), err
		return ex
	}
	sum, err := readResponse(c.br, c.t.method)
	ex.end = time.Now()
	ex.status, ex.close, ex.closeWhy, ex.hints, ex.err = sum.status, sum.close, sum.closeWhy, sum.hints, err
	return ex
}

// readerPool holds the response readers of the exchanges in progress.
var readerPool = sync.Pool{New: func() any { return bufio.NewReader(nil) }}

// releaseReader gives the response reader back to the pool unless it
// holds bytes not read yet.
func (c *httpConn) releaseReader() {
	if c.br != nil && c.br.Buffered() == 0 {
		c.br.Reset(nil)
		readerPool.Put(c.br)
		c.br = nil
	}
}

// responseSummary is what idleprobe keeps of a response.
type responseSummary struct {
	status    string // "200 OK"
	close     bool   // Connection: close, or HTTP/1.0 without keep-alive
	closeWhy  string // which of the two
	hints     Hints  // the Keep-Alive header of the final response
	bodyBytes int64
}

// readResponse reads one final response (skipping 1xx) and its whole body
// from br. A response that asks to close is not read further: the
// connection is finished anyway.
func readResponse(br *bufio.Reader, method string) (responseSummary, error) {
	req := &http.Request{Method: method}
	for range maxInterim {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return responseSummary{}, responseError(err)
		}
		sum := responseSummary{status: resp.Status, close: resp.Close}
		if sum.status == "" {
			sum.status = strconv.Itoa(resp.StatusCode)
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			resp.Body.Close()
			return sum, errors.New("malformed response: unexpected 101 Switching Protocols")
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 {
			resp.Body.Close()
			continue
		}
		sum.hints = parseKeepAlive(resp.Header.Values("Keep-Alive"))
		if sum.close {
			sum.closeWhy = "Connection: close"
			if !resp.ProtoAtLeast(1, 1) {
				sum.closeWhy = resp.Proto + " without keep-alive"
			}
			resp.Body.Close()
			return sum, nil
		}
		n, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes+1))
		resp.Body.Close()
		sum.bodyBytes = n
		if err != nil {
			return sum, responseError(err)
		}
		if n > maxResponseBytes {
			return sum, errBodyTooLarge
		}
		return sum, nil
	}
	return responseSummary{}, fmt.Errorf("malformed response: more than %d interim (1xx) responses", maxInterim)
}

// responseError keeps I/O errors as they are (classify knows them) and
// marks everything else as a malformed response.
func responseError(err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, errBodyTooLarge),
		errors.As(err, &ne), errors.Is(err, os.ErrDeadlineExceeded):
		return err
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return err
	}
	return fmt.Errorf("malformed response: %s", strings.TrimPrefix(err.Error(), "net/http: "))
}

// maxKeepAliveValue bounds the Keep-Alive parameters taken (about 68
// years in seconds); larger values are junk and ignored.
const maxKeepAliveValue = 1<<31 - 1

// parseKeepAlive reads Keep-Alive response header values as servers send
// them ("timeout=5, max=100": RFC 2068 section 19.7.1.1, kept by RFC 9112
// section 9.3 as a legacy connection option). It is lenient: parameter
// names in any case, spaces around "=", quoted values, commas or
// semicolons between parameters, several header lines. What is not a
// non-negative whole number up to maxKeepAliveValue is ignored; the first
// valid value of each parameter wins.
func parseKeepAlive(values []string) Hints {
	var h Hints
	var haveTimeout, haveMax bool
	for _, v := range values {
		for p := range strings.FieldsFuncSeq(v, func(r rune) bool { return r == ',' || r == ';' }) {
			name, val, ok := strings.Cut(p, "=")
			if !ok {
				continue
			}
			val = strings.TrimSpace(val)
			if len(val) >= 2 && val[0] == '"' && val[len(val)-1] == '"' {
				val = strings.TrimSpace(val[1 : len(val)-1])
			}
			n, err := strconv.ParseUint(val, 10, 64)
			if err != nil || n > maxKeepAliveValue {
				continue
			}
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "timeout":
				if !haveTimeout {
					h.KeepAliveTimeout, haveTimeout = time.Duration(n)*time.Second, true
				}
			case "max":
				if !haveMax {
					h.KeepAliveMax, haveMax = int(n), true
				}
			}
		}
	}
	return h
}

// budgetReader fails with errBodyTooLarge once more than n bytes were read.
type budgetReader struct {
	r io.Reader
	n int64
}

func (b *budgetReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, errBodyTooLarge
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	return n, err
}
