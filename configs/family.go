package configs

import (
	"fmt"

	"github.com/idleprobe/idleprobe/prober"
)

// IPFamilies are the values of a path's ip_family (and of --ip-family):
// IPv4 only, IPv6 only, or both side by side. Empty means the first
// address the resolver gives, as a client would connect.
var IPFamilies = []string{"4", "6", "both"}

// ParseFamily returns the address families (prober.TransportOptions.Family)
// to measure for an ip_family value: one for "", "4" or "6", both for
// "both". The error says what would be valid.
func ParseFamily(s string) ([]string, error) {
	switch s {
	case "":
		return []string{prober.FamilyAny}, nil
	case "4":
		return []string{prober.FamilyIPv4}, nil
	case "6":
		return []string{prober.FamilyIPv6}, nil
	case "both":
		return []string{prober.FamilyIPv4, prober.FamilyIPv6}, nil
	}
	return nil, fmt.Errorf("%q is not an address family (valid: 4, 6, both; leave it out for the resolver's first address)", s)
}
