// Command grafana writes the idleprobe Grafana dashboard
// (deploy/grafana/idleprobe.json) from its definition in dashboard.go:
//
//	cd deploy/grafana && go run . > idleprobe.json
//
// The dashboard is code so that its queries, units and layout are
// reviewed as code and typed by the Grafana Foundation SDK; the JSON is
// committed for people who import it, and a test checks that it is what
// this program writes.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
)

func main() {
	if err := write(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "idleprobe dashboard:", err)
		os.Exit(1)
	}
}

// write writes the dashboard as indented JSON with a final newline.
func write(w io.Writer) error {
	d, err := Dashboard()
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
