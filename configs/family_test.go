package configs

import (
	"testing"
)

// TestGroupsAndFamilies: group is kept; ip_family 4 or 6 reaches the
// measurement; both becomes NAME-ipv4 and NAME-ipv6 in place, in group
// NAME unless the path names its own group.
func TestGroupsAndFamilies(t *testing.T) {
	src := `defaults:
  group: orders
paths:
  - name: pod
    target: http://192.0.2.10:8080/
  - name: lb
    target: http://lb.example:80/
    ip_family: both
  - name: api
    target: http://api.example/
    ip_family: both
    group: ""
  - name: v6
    target: tcp://api.example:6379
    ip_family: "6"
    group: other
`
	c, _, err := Parse([]byte(src), "g.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, group, family string }{
		{"pod", "orders", ""}, {"lb-ipv4", "orders", "4"}, {"lb-ipv6", "orders", "6"},
		{"api-ipv4", "api", "4"}, {"api-ipv6", "api", "6"}, {"v6", "other", "6"},
	}
	if len(c.Paths) != len(want) {
		t.Fatalf("%d paths, want %d: %+v", len(c.Paths), len(want), c.Paths)
	}
	for i, w := range want {
		p := c.Paths[i]
		_, opts := p.Measurement()
		if p.Name != w.name || p.Group != w.group || p.IPFamily != w.family || opts.Transport.Family != w.family {
			t.Errorf("path %d: name %q group %q ip_family %q (measured over %q), want %+v", i, p.Name, p.Group, p.IPFamily, opts.Transport.Family, w)
		}
	}
	if c.Paths[1].Hash() == c.Paths[2].Hash() {
		t.Error("the two families of lb have the same hash")
	}
}
