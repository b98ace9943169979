package prober

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateRequest: the one request rule, and the transports refusing
// exactly what it refuses (HTTP/1.1 and HTTP/2 alike).
func TestValidateRequest(t *testing.T) {
	tests := []struct {
		name   string
		method string
		header http.Header
		host   string
		// want is nil for a valid request, else the problems in order.
		want []RequestError
	}{
		{name: "defaults"},
		{name: "standard methods", method: "HEAD"},
		{name: "extension method", method: "PROPFIND"},
		{name: "odd but valid token", method: "M-SEARCH"},
		{name: "headers", header: http.Header{"User-Agent": {"probe/2"}, "x-token": {"a b\tc"}, "Authorization": {"Bearer x"}}},
		{name: "host with port", host: "orders.example.com:8443"},
		{name: "ipv6 host", host: "[2001:db8::1]:80"},
		{name: "host header", header: http.Header{"Host": {"vhost.example"}}},
		{name: "lower-case standard method", method: "get",
			want: []RequestError{{Setting: "method", Message: `"get": methods are case-sensitive, write GET`}}},
		{name: "mixed case", method: "Post",
			want: []RequestError{{Setting: "method", Message: `"Post": methods are case-sensitive, write POST`}}},
		{name: "connect", method: "CONNECT",
			want: []RequestError{{Setting: "method", Message: "CONNECT cannot be used to measure a path (examples: GET, HEAD, POST)"}}},
		{name: "not a token", method: "GET /x",
			want: []RequestError{{Setting: "method", Message: `"GET /x" is not a valid HTTP method (examples: GET, HEAD, POST)`}}},
		{name: "managed", header: http.Header{"connection": {"close"}},
			want: []RequestError{{Setting: "header", Header: "connection", Message: "Connection is managed by idleprobe: the connection under test must stay a plain keep-alive connection"}}},
		{name: "managed h2 only", header: http.Header{"Proxy-Connection": {"x"}},
			want: []RequestError{{Setting: "header", Header: "Proxy-Connection", Message: "Proxy-Connection is managed by idleprobe: the connection under test must stay a plain keep-alive connection"}}},
		{name: "pseudo header", header: http.Header{":path": {"/x"}},
			want: []RequestError{{Setting: "header", Header: ":path", Message: ":path is managed by idleprobe: the connection under test must stay a plain keep-alive connection"}}},
		{name: "bad name", header: http.Header{"X Y": {"1"}},
			want: []RequestError{{Setting: "header", Header: "X Y", Message: `"X Y" is not a valid header name (letters, digits and !#$%&'*+-.^_` + "`" + `|~ only)`}}},
		{name: "bad value", header: http.Header{"X-A": {"1\r\nEvil: 1"}},
			want: []RequestError{{Setting: "header", Header: "X-A", Message: `value "1\r\nEvil: 1" contains characters not allowed in a header (control characters or line breaks)`}}},
		{name: "bad host header", header: http.Header{"Host": {"a/b"}},
			want: []RequestError{{Setting: "header", Header: "Host", Message: `"a/b" is not a host name (example: orders.example.com)`}}},
		{name: "bad host", host: "example.com/x",
			want: []RequestError{{Setting: "host", Message: `"example.com/x" is not a host name (example: orders.example.com)`}}},
		{name: "host with space", host: "a b",
			want: []RequestError{{Setting: "host", Message: `"a b" is not a host name (example: orders.example.com)`}}},
		{name: "every problem", method: "get", header: http.Header{"Te": {"x"}, "X-B": {"\x00"}}, host: "a b",
			want: []RequestError{
				{Setting: "method", Message: `"get": methods are case-sensitive, write GET`},
				{Setting: "header", Header: "Te", Message: "Te is managed by idleprobe: the connection under test must stay a plain keep-alive connection"},
				{Setting: "header", Header: "X-B", Message: `value "\x00" contains characters not allowed in a header (control characters or line breaks)`},
				{Setting: "host", Message: `"a b" is not a host name (example: orders.example.com)`},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateRequest(tc.method, tc.header, tc.host)
			var got []RequestError
			if err != nil {
				list := []error{err}
				if j, ok := err.(interface{ Unwrap() []error }); ok {
					list = j.Unwrap()
				}
				for _, e := range list {
					var re *RequestError
					if !errors.As(e, &re) {
						t.Fatalf("%v is a %T, want *RequestError", e, e)
					}
					got = append(got, *re)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("ValidateRequest = %v, want %d problems %v", err, len(tc.want), tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("problem %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
			// The transports refuse exactly these requests, naming the first.
			opts := TransportOptions{Method: tc.method, Header: tc.header, Host: tc.host}
			for _, url := range []string{"http://127.0.0.1:1/", "h2c://127.0.0.1:1/"} {
				tg, perr := ParseTarget(url)
				if perr != nil {
					t.Fatal(perr)
				}
				_, terr := NewTransport(tg, opts)
				switch {
				case len(tc.want) == 0 && terr != nil:
					t.Errorf("%s: NewTransport refused a valid request: %v", url, terr)
				case len(tc.want) > 0 && (terr == nil || terr.Error() != tc.want[0].Error()):
					t.Errorf("%s: NewTransport error %v, want %q", url, terr, tc.want[0].Error())
				}
			}
		})
	}
}

func TestRequestErrorText(t *testing.T) {
	for _, tc := range []struct {
		e    RequestError
		want string
	}{
		{RequestError{Setting: "method", Message: `"GET /x" is not a valid HTTP method`}, `method "GET /x" is not a valid HTTP method`},
		{RequestError{Setting: "header", Header: "X Y", Message: `"X Y" is not a valid header name`}, `header "X Y" is not a valid header name`},
		{RequestError{Setting: "header", Header: "Te", Message: "Te is managed by idleprobe"}, "header Te is managed by idleprobe"},
		{RequestError{Setting: "header", Header: "X-A", Message: `value "\r" contains`}, `header X-A: value "\r" contains`},
		{RequestError{Setting: "host", Message: `"a b" is not a host name`}, `host "a b" is not a host name`},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestReadCAFile(t *testing.T) {
	dir := t.TempDir()
	_, good := selfSigned(t, "ca.test") // a PEM file
	notPEM := filepath.Join(dir, "notpem.txt")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	if pool, err := ReadCAFile(good); err != nil || pool == nil {
		t.Fatalf("ReadCAFile(good) = %v, %v", pool, err)
	}
	for _, tc := range []struct{ file, want string }{
		{missing, "cannot read CA file " + missing + ": no such file or directory"},
		{dir, "CA file " + dir + " is not a regular file (give a PEM file of CA certificates)"},
		{notPEM, "CA file " + notPEM + " has no PEM certificates (expected -----BEGIN CERTIFICATE----- blocks)"},
	} {
		if _, err := ReadCAFile(tc.file); err == nil || err.Error() != tc.want {
			t.Errorf("ReadCAFile(%s) = %v, want %q", tc.file, err, tc.want)
		}
	}
}

// TestManagedHeadersCanonical: the list is in the form CanonicalHeaderKey
// gives, so that a lookup by canonical name finds every entry.
func TestManagedHeadersCanonical(t *testing.T) {
	for _, h := range ManagedHeaders {
		if c := http.CanonicalHeaderKey(h); c != h && !strings.HasPrefix(h, ":") {
			t.Errorf("%q is not canonical (%q)", h, c)
		}
	}
}
