package report

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/idleprobe/idleprobe/prober"
)

// jsonProxy is the "proxy" member of the JSON result of a measurement
// through a forward proxy.
type jsonProxy struct {
	URL                string   `json:"url"`
	IdleTimeoutSeconds *float64 `json:"idle_timeout_seconds"`
	// ClosedBy is proxy, other or unknown; null when no limit was found.
	ClosedBy *string `json:"closed_by"`
	Detail   string  `json:"detail"`
}

// withProxy adds "proxy": v to the JSON object b (the encoded result).
func withProxy(b []byte, v *prober.ProxyVerdict) ([]byte, error) {
	j := jsonProxy{URL: v.URL, Detail: v.Detail}
	if v.IdleTimeout > 0 {
		s := v.IdleTimeout.Seconds()
		j.IdleTimeoutSeconds = &s
	}
	if v.ClosedBy != "" {
		j.ClosedBy = &v.ClosedBy
	}
	pb, err := json.Marshal(j)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[len(b)-1] != '}' {
		return nil, errors.New("the result is not a JSON object")
	}
	sep := ","
	if bytes.Equal(bytes.TrimSpace(b[:len(b)-1]), []byte("{")) {
		sep = ""
	}
	out := append(b[:len(b)-1:len(b)-1], sep+`"proxy":`...)
	out = append(out, pb...)
	return append(out, '}'), nil
}
