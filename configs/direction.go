package configs

import "github.com/idleprobe/idleprobe/prober"

// checkDirection checks direction with the transports' rule
// (prober.ValidateDirection) once the target's scheme is known.
func (v pathCheck) checkDirection(scheme string) {
	if !v.ok("direction") || scheme == "" {
		return
	}
	if err := prober.ValidateDirection(scheme, v.Direction); err != nil {
		v.errorf("direction", "%v", err)
	}
}
