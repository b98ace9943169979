package main

import (
	"context"
	"errors"

	"github.com/idleprobe/idleprobe/internal/demo"
	"github.com/idleprobe/idleprobe/internal/term"
)

const demoHelp = `
Measure a pretend load balancer on loopback that forgets idle connections after 3s.

Runs everything on loopback, no outside server needed: a responder that never closes a connection, and in front of it a pretend load balancer (a userspace proxy) that forgets connections idle for 3s and resets them when they are used again, the way IPVS does. Then it measures the path with the same code as 'idleprobe measure' and checks that the limit it finds contains 3s. Takes about 5 seconds. Exit code 0 when the limit was found, 1 when not.
`

func (c *cli) addDemo() {
	c.command("demo", demoHelp, "", "", func(ctx context.Context, _ []string) int {
		_, err := demo.Run(ctx, demo.Config{Progress: term.IsTerminalWriter(c.stdout), Logger: c.logger()}, c.stdout)
		if errors.Is(err, demo.ErrMissed) {
			return exitFailed // the output says what was found
		}
		return c.exit(err)
	})
}
