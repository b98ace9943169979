package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
)

// version is set at build time:
//
//	go build -ldflags "-X main.version=1.2.3" ./cmd/idleprobe
var version = "dev"

func init() {
	register(command{name: "version", summary: "print the version and the Go version it was built with", run: runVersion})
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version")
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout, fs, "Usage: idleprobe version\n\nPrints the idleprobe version and the Go version it was built with.\n")
		return exitOK
	}
	if err != nil {
		return usageError(stderr, flagError("version", err))
	}
	if len(pos) > 0 {
		return usageError(stderr, fmt.Sprintf("version takes no arguments, got %q", pos[0]))
	}
	fmt.Fprintf(stdout, "idleprobe %s (%s %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}
