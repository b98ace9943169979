package main

import (
	"context"
	"fmt"

	"github.com/idleprobe/idleprobe/configs"
	"github.com/idleprobe/idleprobe/internal/report"
)

const checkConfigHelp = `
Validate serve config files: list every problem and warning, show the resolved paths.

Validates each config file for 'idleprobe serve' and prints every problem (file:line: field: message, to stderr) and every warning. For a valid file it prints the paths with all defaults applied. See CONFIGURATION.md.

Exit codes: 0 every file is valid (warnings allowed), 1 a file is invalid or unreadable, 2 usage error.
`

func (c *cli) addCheckConfig() {
	var quiet *bool
	cmd := c.command("check-config", checkConfigHelp, "FILE: the config files to check", "", func(_ context.Context, files []string) int {
		if len(files) == 0 {
			return c.usage("check-config needs a config file (example: idleprobe check-config idleprobe.yml)")
		}
		code := exitOK
		for _, file := range files {
			cfg, warns, err := configs.Load(file)
			for _, w := range warns {
				fmt.Fprintf(c.stderr, "warning: %s\n", w)
			}
			if err != nil {
				fmt.Fprintf(c.stderr, "%s\n%s: INVALID\n", err, file)
				code = exitFailed
				continue
			}
			if !*quiet {
				fmt.Fprintf(c.stdout, "%s: OK, %d %s\n", file, len(cfg.Paths), map[bool]string{true: "path", false: "paths"}[len(cfg.Paths) == 1])
				report.Paths(c.stdout, cfg)
			}
		}
		return code
	})
	quiet = cmd.Flag("quiet", "Print only problems and warnings, nothing for valid files.").Bool()
}
