package prober

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// ManagedHeaders are the request header fields idleprobe sets itself, in
// canonical form: the connection under test must stay a plain keep-alive
// connection, and the framing of every reuse is idleprobe's. They cannot be
// configured. Besides them, Host is set from TransportOptions.Host (or the
// target), and HTTP/2's pseudo-header fields from the method, the target and
// the host.
var ManagedHeaders = []string{
	"Connection", "Content-Length", "Keep-Alive", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
	":authority", ":method", ":path", ":scheme",
}

// standardMethods are the methods of RFC 9110 that a measurement may use.
var standardMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions, http.MethodTrace}

// RequestError is one problem with the HTTP request settings, as found by
// ValidateRequest. Front ends name the setting their own way (the config's
// request.method, the command line's --method).
type RequestError struct {
	// Setting is the setting at fault: "method", "header" or "host".
	Setting string
	// Header is the header name as given, for Setting "header".
	Header string
	// Message says what is wrong and what would be valid, without naming
	// the setting, e.g. `"get": methods are case-sensitive, write GET`.
	Message string
}

// Error names the setting (and the header) and says what is wrong.
func (e *RequestError) Error() string {
	if e.Setting == "header" && !strings.HasPrefix(e.Message, e.Header) && !strings.HasPrefix(e.Message, strconv.Quote(e.Header)) {
		return "header " + e.Header + ": " + e.Message
	}
	return e.Setting + " " + e.Message
}

// ValidateRequest is the one definition of a valid HTTP request for a
// measurement, used by the transports, the config file and the command
// line alike. It reports every problem as a *RequestError (joined):
//
//   - method: empty (GET) or an HTTP token (RFC 9110 section 9.1); a standard
//     method in the wrong case ("get") is rejected with the right spelling,
//     since methods are case-sensitive and a server would not know it;
//     CONNECT cannot measure anything.
//   - header: names are tokens, not ManagedHeaders; values hold no control
//     characters or line breaks. A Host header is validated as host.
//   - host: empty (from the target) or valid in a Host header: no spaces,
//     slashes or control characters.
func ValidateRequest(method string, header http.Header, host string) error {
	var errs []error
	add := func(setting, name, format string, args ...any) {
		errs = append(errs, &RequestError{Setting: setting, Header: name, Message: fmt.Sprintf(format, args...)})
	}
	if method != "" {
		switch upper := strings.ToUpper(method); {
		case !httpguts.ValidHeaderFieldName(method): // a method is a token, like a field name
			add("method", "", "%q is not a valid HTTP method (examples: GET, HEAD, POST)", method)
		case method != upper && slices.Contains(standardMethods, upper):
			add("method", "", "%q: methods are case-sensitive, write %s", method, upper)
		case upper == http.MethodConnect:
			add("method", "", "CONNECT cannot be used to measure a path (examples: GET, HEAD, POST)")
		}
	}
	for _, name := range sortedNames(header) {
		canonical := http.CanonicalHeaderKey(name)
		switch {
		case slices.Contains(ManagedHeaders, canonical) || slices.Contains(ManagedHeaders, strings.ToLower(name)):
			add("header", name, "%s is managed by idleprobe: the connection under test must stay a plain keep-alive connection", canonical)
			continue
		case !httpguts.ValidHeaderFieldName(name):
			add("header", name, "%q is not a valid header name (letters, digits and !#$%%&'*+-.^_`|~ only)", name)
			continue
		}
		for _, v := range header[name] {
			switch {
			case !httpguts.ValidHeaderFieldValue(v):
				add("header", name, "value %q contains characters not allowed in a header (control characters or line breaks)", v)
			case canonical == "Host" && !validHost(v):
				add("header", name, "%q is not a host name (example: orders.example.com)", v)
			}
		}
	}
	if host != "" && !validHost(host) {
		add("host", "", "%q is not a host name (example: orders.example.com)", host)
	}
	return errors.Join(errs...)
}

// validHost reports whether h may be sent as a Host header or :authority.
func validHost(h string) bool {
	return h != "" && httpguts.ValidHostHeader(h)
}

// sortedNames returns the names of h, sorted.
func sortedNames(h http.Header) []string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// maxCAFileSize bounds how much of a CA file is read.
const maxCAFileSize = 1 << 20

// ReadCAFile is the one reader of a CA file (TransportOptions.CAFile): a
// regular file of at most 1 MiB with at least one PEM certificate. The
// config file and the command line check the file with it before a
// measurement, the https and h2 transports load it with it.
func ReadCAFile(file string) (*x509.CertPool, error) {
	st, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("cannot read CA file %s: %v", file, pathErr(err))
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("CA file %s is not a regular file (give a PEM file of CA certificates)", file)
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("cannot read CA file %s: %v", file, pathErr(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCAFileSize))
	if err != nil {
		return nil, fmt.Errorf("cannot read CA file %s: %v", file, pathErr(err))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("CA file %s has no PEM certificates (expected -----BEGIN CERTIFICATE----- blocks)", file)
	}
	return pool, nil
}

// pathErr drops the operation and path that an *os.PathError repeats.
func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// requestLine returns the method and host of the transports' request, the
// defaults filled in, or the first problem ValidateRequest finds (front
// ends report them all before a measurement starts).
func requestLine(t Target, o TransportOptions) (method, host string, err error) {
	if err := ValidateRequest(o.Method, o.Header, o.Host); err != nil {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			err = j.Unwrap()[0]
		}
		return "", "", err
	}
	method, host = o.Method, o.Host
	if method == "" {
		method = http.MethodGet
	}
	if host == "" {
		host = o.Header.Get("Host")
	}
	if host == "" {
		host = t.URL.Host
	}
	return method, host, nil
}
