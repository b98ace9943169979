package wiretoken

import "testing"

func TestToken(t *testing.T) {
	a, b := New(), New()
	if !Valid(a) || !Valid(b) || a == b {
		t.Errorf("New gave %q and %q: want two different valid tokens", a, b)
	}
	for _, s := range []string{"", "0123", "0123456789ABCDEF", "0123456789abcdeg", "0123456789abcdef0"} {
		if Valid(s) {
			t.Errorf("Valid(%q) = true", s)
		}
	}
}
