package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/idleprobe/idleprobe/internal/advice"
	"github.com/idleprobe/idleprobe/prober"
)

// BothOutputs are the outputs MeasureBoth can write: two results side by
// side need a format that holds two.
var BothOutputs = []string{"text", "json"}

// Directions are the labels of MeasureBoth's results, in order.
var Directions = []string{prober.DirectionClient, prober.DirectionServer}

// directionTitle says what each direction's trials did.
var directionTitle = map[string]string{
	prober.DirectionClient: "Client direction (after the idle time the client sends, the answer must come back)",
	prober.DirectionServer: "Server direction (after the idle time the server sends, the bytes must arrive; the client sends nothing)",
}

// MeasureBoth measures target in both directions at once, each with opts
// (and its own connection budget), and writes the two results labelled
// side by side: in text, each summary under its direction's title and a
// line comparing them; in json, one object {"client": RESULT, "server":
// RESULT}. o.Output must be one of BothOutputs; o.PushURL is not used.
// The error joins the directions' errors, each prefixed with its label.
func MeasureBoth(ctx context.Context, target prober.Target, opts prober.Options, o Options, w io.Writer) (map[string]prober.Result, error) {
	if o.Output == "" {
		o.Output = "text"
	}
	type run struct {
		r   prober.Result
		err error
		out bytes.Buffer
	}
	runs := make([]*run, len(Directions))
	var wg sync.WaitGroup
	for i, dir := range Directions {
		runs[i] = &run{}
		one := opts
		one.Transport.Direction = dir
		oo := o
		oo.Progress, oo.PushURL = false, ""
		wg.Add(1)
		go func(r *run) {
			defer wg.Done()
			r.r, r.err = Measure(ctx, target, one, oo, &r.out)
		}(runs[i])
	}
	wg.Wait()

	results := map[string]prober.Result{}
	var errs []error
	for i, dir := range Directions {
		results[dir] = runs[i].r
		if runs[i].err != nil {
			errs = append(errs, fmt.Errorf("%s direction: %w", dir, runs[i].err))
		}
	}
	var werr error
	switch o.Output {
	case "json":
		obj := map[string]json.RawMessage{}
		for i, dir := range Directions {
			obj[dir] = bytes.TrimSpace(runs[i].out.Bytes())
		}
		b, err := json.Marshal(obj)
		if err == nil {
			_, err = w.Write(append(b, '\n'))
		}
		werr = err
	default:
		var buf bytes.Buffer
		for i, dir := range Directions {
			fmt.Fprintf(&buf, "%s:\n%s\n", directionTitle[dir], runs[i].out.String())
		}
		fmt.Fprintf(&buf, "Directions compared: client %s; server %s\n",
			advice.Limit(results[prober.DirectionClient]), advice.Limit(results[prober.DirectionServer]))
		_, werr = w.Write(buf.Bytes())
	}
	if werr != nil {
		errs = append(errs, fmt.Errorf("writing the result: %w", werr))
	}
	return results, errors.Join(errs...)
}
