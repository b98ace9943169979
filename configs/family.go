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

// familySuffix is what a path measured over both families adds to its name
// for each family: "api" becomes "api-ipv4" and "api-ipv6".
func familySuffix(family string) string { return "-ipv" + family }

// checkGroup checks group: a plain name like a path's.
func (v pathCheck) checkGroup() {
	if !v.ok("group") || v.Group == "" {
		return
	}
	switch {
	case len(v.Group) > MaxNameLength:
		v.errorf("group", "is %d characters long (at most %d)", len(v.Group), MaxNameLength)
	case !NamePattern.MatchString(v.Group):
		v.errorf("group", "%q is not a valid group name: use letters, digits and _ . : - and start with a letter or _ (example: orders)", v.Group)
	}
}

// checkFamily checks ip_family.
func (v pathCheck) checkFamily() {
	if !v.ok("ip_family") {
		return
	}
	if _, err := ParseFamily(v.IPFamily); err != nil {
		v.errorf("ip_family", "%v", err)
	}
}

// expandFamilies replaces every path with ip_family both by two paths,
// NAME-ipv4 and NAME-ipv6, each over one family, in group NAME unless the
// path names a group: they are then shown and compared side by side. A
// name that another path has already is an error naming both.
func (c *Config) expandFamilies() error {
	var out []Path
	names := map[string]Path{}
	for _, p := range c.Paths {
		names[p.Name] = p
	}
	probs := &problems{file: c.File}
	for _, p := range c.Paths {
		if p.IPFamily != "both" {
			out = append(out, p)
			continue
		}
		for _, fam := range []string{prober.FamilyIPv4, prober.FamilyIPv6} {
			q := p
			q.Name, q.IPFamily = p.Name+familySuffix(fam), fam
			if q.Group == "" {
				q.Group = p.Name
			}
			if other, dup := names[q.Name]; dup {
				o := p.at("ip_family")
				probs.errorf(o.line, o.field, "both measures %s as %q and %q, but %q is already the name of paths[%d] (line %d); rename one",
					p.Name, p.Name+familySuffix(prober.FamilyIPv4), p.Name+familySuffix(prober.FamilyIPv6), q.Name, other.index, other.at("name").line)
				continue
			}
			out = append(out, q)
		}
	}
	if _, err := probs.result(); err != nil {
		return err
	}
	c.Paths = out
	return nil
}
