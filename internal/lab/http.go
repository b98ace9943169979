package lab

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Exchange sends one HTTP/1.1 request on c and reads the whole response,
// within timeout. br must be the connection's only reader (pass the same one
// for every request on c). It returns the status code and body.
func Exchange(c net.Conn, br *bufio.Reader, method, host, path, body string, timeout time.Duration) (int, string, error) {
	if err := c.SetDeadline(time.Now().Add(timeout)); err != nil {
		return 0, "", err
	}
	defer c.SetDeadline(time.Time{})
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: idleprobe-lab\r\n", method, path, host)
	if body != "" || method == http.MethodPost || method == http.MethodPut {
		fmt.Fprintf(&req, "Content-Type: text/plain\r\nContent-Length: %d\r\n", len(body))
	}
	req.WriteString("\r\n")
	req.WriteString(body)
	if _, err := io.WriteString(c, req.String()); err != nil {
		return 0, "", fmt.Errorf("writing request: %w", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, "", fmt.Errorf("reading response: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, string(b), fmt.Errorf("reading response body: %w", err)
	}
	return resp.StatusCode, string(b), nil
}
