package prober

import (
	"context"
	"errors"
)

// Measure runs one idle-limit measurement of target. (stub, being written)
func Measure(ctx context.Context, target Target, opts Options) (Result, error) {
	return Result{}, errors.New("not implemented yet")
}
