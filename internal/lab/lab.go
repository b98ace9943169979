// Package lab builds a small real network in Linux network namespaces for
// end-to-end tests: a client, a load balancer (router with kernel NAT and a
// conntrack idle timeout, like a Kubernetes NodePort on IPVS) and a server,
// and runs real servers (nginx, HAProxy, socat, the idleprobe responder) and
// the real idleprobe binary inside it.
//
// Every helper takes a testing.TB and registers its teardown with t.Cleanup,
// so processes, namespaces and nftables state are gone after each test, also
// when the test fails. Labs get unique namespace names and address blocks, so
// tests using them may call t.Parallel, and several test binaries may use the
// lab at the same time.
//
// The facts each choice relies on are in ../shared/LAB.md (quoted below as
// "LAB.md: ...").
package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Mode says what the load balancer does with a packet of a flow it has
// forgotten after Options.Timeout of idleness.
type Mode int

// The middlebox modes.
const (
	// None: the flow survives expiry (the "no limit" control).
	// LAB.md: with nf_conntrack_tcp_loose=1 (the default) and no extra rule,
	// conntrack adopts the mid-stream packet as a new flow and DNAT sends it
	// to the same backend, so the connection survives.
	None Mode = iota
	// Reset: the next packet after expiry is answered with a TCP RST, as IPVS
	// does. LAB.md: with loose=0 the packet is `ct state invalid`; with no
	// rule at all it is not DNATed, reaches the lb's own stack (the VIP is
	// local, nothing listens) and the kernel answers RST: "the closest
	// stand-in for IPVS". We deliberately add no reject rule.
	Reset
	// Drop: packets after expiry vanish (black hole, like Azure LB or a NAT
	// gateway). LAB.md: loose=0 plus `ct state invalid drop`.
	Drop
)

// String returns the mode's name.
func (m Mode) String() string {
	switch m {
	case None:
		return "none"
	case Reset:
		return "reset"
	case Drop:
		return "drop"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Options configure a lab.
type Options struct {
	// Timeout is the conntrack idle timeout (established state) the load
	// balancer applies to flows to the VIP. It must be a whole number of
	// seconds (LAB.md: "T is whole seconds"). 0 leaves the kernel default
	// (5 days): no middlebox limit.
	Timeout time.Duration
	// Mode is what happens to a flow's packets after it expired.
	Mode Mode
	// Backends is how many backends the VIP's DNAT spreads new flows over,
	// like a Service with several pods: 0 or 1 for ServerAddr alone; 2 adds
	// ServerAddr2 in the server namespace, and new flows alternate between
	// the two (nftables `numgen inc mod 2`).
	Backends int
	// UDPTimeout is the conntrack timeout (unreplied and replied) of UDP
	// flows to the VIP, in whole seconds; 0 leaves the kernel's. See
	// udp.go.
	UDPTimeout time.Duration
	// Masquerade NATs the client side too: flows leave the lb towards the
	// server from the lb's own address (LBServerAddr), as a NAT gateway or
	// kube-proxy's masquerade does. See udp.go.
	Masquerade bool
	// RandomPorts makes the masquerade pick a random source port for every
	// new flow (nft "fully-random"), as many cloud NAT gateways do: after the
	// lb forgot a flow, the client's next segment (adopted as a new flow
	// with nf_conntrack_tcp_loose=1, Mode None) reaches the server from
	// another port, and the server's host answers it with a RST. Needs
	// Masquerade.
	RandomPorts bool
}

// Lab is one client/lb/server topology. Its fields are read-only.
type Lab struct {
	// Client, LB and Server are the namespace names.
	Client, LB, Server string
	// VIP is the virtual service address on the lb's lo; connections to any
	// TCP port of it are DNATed to the same port on ServerAddr.
	VIP netip.Addr
	// ServerAddr is the server's own address (reachable directly from the
	// client through the lb, without NAT or timeout policy).
	ServerAddr netip.Addr
	// ServerAddr2 is the second backend's address, on the server
	// namespace's lo, when Options.Backends is 2 (else invalid). It comes
	// from the VIP range, 203.0.113.129-192, one per slot.
	ServerAddr2 netip.Addr
	// ClientAddr is the client's address.
	ClientAddr netip.Addr
	// LBClientAddr and LBServerAddr are the lb's addresses on each side.
	LBClientAddr, LBServerAddr netip.Addr
	// Options are the options the lab was built with.
	Options Options
	// Dir is a per-lab directory for configuration files and process logs.
	Dir string

	slot int
}

// NamespacePrefix starts the name of every namespace the lab creates.
const NamespacePrefix = "idleprobe-lab-"

// maxSlots is how many labs can exist at once on one machine: each takes a
// /30 from 192.0.2.0/24 (client side), a /30 from 198.51.100.0/24 (server
// side) and a /32 from 203.0.113.0/24 (VIP).
const maxSlots = 64

// requiredTools are the programs the lab needs.
var requiredTools = []string{"ip", "nft", "nginx", "haproxy", "conntrack", "socat", "ss"}

// Require skips t when the lab cannot run here and nobody expects it to: not
// root and the CI environment variable unset. Otherwise it fails t loudly
// when a lab prerequisite (root, a tool) is missing.
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "" {
			t.Skip("lab tests need root (network namespaces, nftables, conntrack); run as root, or set CI=1 to make this a failure instead of a skip")
		}
		t.Fatalf("lab tests need root (network namespaces, nftables, conntrack) and CI=%q is set: run them as root", os.Getenv("CI"))
	}
	var missing []string
	for _, tool := range requiredTools {
		if _, err := lookTool(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("lab tests need %s in PATH or /usr/sbin (Debian: apt-get install -y iproute2 nftables conntrack nginx-light haproxy socat)", strings.Join(missing, ", "))
	}
}

// lookTool finds a program in PATH, then in the sbin directories that a
// non-login root shell may lack.
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH or sbin directories", name)
}

// New builds a lab for t and tears it down when t ends. It calls Require.
func New(t testing.TB, opts Options) *Lab {
	t.Helper()
	Require(t)
	if opts.Timeout < 0 || opts.Timeout%time.Second != 0 {
		t.Fatalf("lab.Options.Timeout: %s must be a whole number of seconds (conntrack timeouts are whole seconds), e.g. 3s", opts.Timeout)
	}
	if opts.Mode != None && opts.Mode != Reset && opts.Mode != Drop {
		t.Fatalf("lab.Options.Mode: %v is not a mode (valid: lab.None, lab.Reset, lab.Drop)", opts.Mode)
	}
	if opts.Mode != None && opts.Timeout == 0 {
		t.Fatalf("lab.Options: mode %v needs a Timeout (e.g. 3s)", opts.Mode)
	}
	if opts.Backends < 0 || opts.Backends > 2 {
		t.Fatalf("lab.Options.Backends: %d is not supported (valid: 0 or 1 for one backend, 2 for two)", opts.Backends)
	}

	if opts.UDPTimeout < 0 || opts.UDPTimeout%time.Second != 0 {
		t.Fatalf("lab.Options.UDPTimeout: %s must be a whole number of seconds (conntrack timeouts are whole seconds), e.g. 3s", opts.UDPTimeout)
	}

	slot, release, err := claimSlot()
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	n := slot
	l := &Lab{
		Client:       fmt.Sprintf("%s%02d-client", NamespacePrefix, n),
		LB:           fmt.Sprintf("%s%02d-lb", NamespacePrefix, n),
		Server:       fmt.Sprintf("%s%02d-server", NamespacePrefix, n),
		ClientAddr:   netip.AddrFrom4([4]byte{192, 0, 2, byte(4*n + 2)}),
		LBClientAddr: netip.AddrFrom4([4]byte{192, 0, 2, byte(4*n + 1)}),
		LBServerAddr: netip.AddrFrom4([4]byte{198, 51, 100, byte(4*n + 1)}),
		ServerAddr:   netip.AddrFrom4([4]byte{198, 51, 100, byte(4*n + 2)}),
		VIP:          netip.AddrFrom4([4]byte{203, 0, 113, byte(n + 1)}),
		Options:      opts,
		Dir:          t.TempDir(),
		slot:         slot,
	}
	if opts.Backends == 2 {
		l.ServerAddr2 = netip.AddrFrom4([4]byte{203, 0, 113, byte(129 + n)})
	}
	// Registered before anything is created: runs last, after every process
	// started in the lab was stopped (cleanups run in reverse order).
	t.Cleanup(func() {
		if t.Failed() {
			l.dumpState(t)
		}
		if err := l.destroy(); err != nil {
			t.Errorf("lab teardown: %v", err)
		}
		release()
	})
	if err := l.build(); err != nil {
		t.Fatalf("lab: building %s: %v", l, err)
	}
	backends := l.ServerAddr.String()
	if l.ServerAddr2.IsValid() {
		backends += " and " + l.ServerAddr2.String()
	}
	t.Logf("lab %s: client %s (%s) -> lb %s -> server %s (%s), VIP %s, timeout %s, mode %v%s",
		l, l.Client, l.ClientAddr, l.LB, l.Server, backends, l.VIP, opts.Timeout, opts.Mode, l.udpDescription())
	return l
}

// String names the lab by its slot.
func (l *Lab) String() string { return fmt.Sprintf("%s%02d", NamespacePrefix, l.slot) }

// Namespaces lists the lab's namespace names.
func (l *Lab) Namespaces() []string { return []string{l.Client, l.LB, l.Server} }

// build creates namespaces, links, addresses, routes, sysctls and rules.
func (l *Lab) build() error {
	for _, ns := range l.Namespaces() {
		if err := cmd("ip", "netns", "add", ns); err != nil {
			return err
		}
	}
	cNet := netip.PrefixFrom(l.ClientAddr, 30).Masked()
	sNet := netip.PrefixFrom(l.ServerAddr, 30).Masked()
	steps := [][]string{
		// Links are created inside the namespaces: nothing touches the host's.
		{"ip", "-n", l.LB, "link", "add", "to-client", "type", "veth", "peer", "name", "eth0", "netns", l.Client},
		{"ip", "-n", l.LB, "link", "add", "to-server", "type", "veth", "peer", "name", "eth0", "netns", l.Server},
		{"ip", "-n", l.Client, "addr", "add", l.ClientAddr.String() + "/30", "dev", "eth0"},
		{"ip", "-n", l.LB, "addr", "add", l.LBClientAddr.String() + "/30", "dev", "to-client"},
		{"ip", "-n", l.LB, "addr", "add", l.LBServerAddr.String() + "/30", "dev", "to-server"},
		{"ip", "-n", l.Server, "addr", "add", l.ServerAddr.String() + "/30", "dev", "eth0"},
		// LAB.md: the VIP is a /32 on the lb's own lo, the way IPVS puts
		// service IPs on kube-ipvs0.
		{"ip", "-n", l.LB, "addr", "add", l.VIP.String() + "/32", "dev", "lo"},
	}
	for _, ns := range l.Namespaces() {
		steps = append(steps, []string{"ip", "-n", ns, "link", "set", "lo", "up"})
	}
	steps = append(steps,
		[]string{"ip", "-n", l.Client, "link", "set", "eth0", "up"},
		[]string{"ip", "-n", l.Server, "link", "set", "eth0", "up"},
		[]string{"ip", "-n", l.LB, "link", "set", "to-client", "up"},
		[]string{"ip", "-n", l.LB, "link", "set", "to-server", "up"},
		// LAB.md: routes only for the lab prefixes, no default route.
		[]string{"ip", "-n", l.Client, "route", "add", l.VIP.String() + "/32", "via", l.LBClientAddr.String()},
		[]string{"ip", "-n", l.Client, "route", "add", sNet.String(), "via", l.LBClientAddr.String()},
		[]string{"ip", "-n", l.Server, "route", "add", cNet.String(), "via", l.LBServerAddr.String()},
	)
	if l.ServerAddr2.IsValid() {
		// The second backend: a /32 on the server's lo, routed by the lb
		// (and the client, for direct access) to the server.
		a := l.ServerAddr2.String() + "/32"
		steps = append(steps,
			[]string{"ip", "-n", l.Server, "addr", "add", a, "dev", "lo"},
			[]string{"ip", "-n", l.LB, "route", "add", a, "via", l.ServerAddr.String()},
			[]string{"ip", "-n", l.Client, "route", "add", a, "via", l.LBClientAddr.String()},
		)
	}
	for _, s := range steps {
		if err := cmd(s[0], s[1:]...); err != nil {
			return err
		}
	}
	// The ruleset loads nf_conntrack for the namespace before its sysctls
	// are written (the net.netfilter.* files exist only then).
	if err := cmdStdin(l.ruleset(), "ip", "netns", "exec", l.LB, "nft", "-f", "-"); err != nil {
		return fmt.Errorf("loading nftables ruleset:\n%s\n%w", l.ruleset(), err)
	}
	loose := "1"
	if l.Options.Mode != None {
		// LAB.md: with loose=0 a mid-stream packet of an expired flow is
		// `ct state invalid` instead of being adopted as a new flow.
		loose = "0"
	}
	sysctls := []string{
		// LAB.md: ip_forward=1 in the lb namespace only.
		"net.ipv4.ip_forward=1",
		// nf_conntrack_tcp_loose is per namespace (LAB.md).
		"net.netfilter.nf_conntrack_tcp_loose=" + loose,
	}
	for _, s := range sysctls {
		if err := cmd("ip", "netns", "exec", l.LB, "sysctl", "-q", "-w", s); err != nil {
			return err
		}
	}
	return nil
}

// ruleset is the lb's nftables ruleset.
func (l *Lab) ruleset() string {
	var b strings.Builder
	b.WriteString("table ip idleprobe_lab {\n")
	if l.Options.Timeout > 0 {
		// LAB.md: an nft `ct timeout` object with an established timeout of
		// T whole seconds, applying only to flows created after it is
		// attached. Expiry is checked on every packet lookup, so the flow
		// dies between T-4 ms and T, never late.
		fmt.Fprintf(&b, "  ct timeout idle {\n    protocol tcp;\n    l3proto ip;\n    policy = { established: %d }\n  }\n",
			int(l.Options.Timeout/time.Second))
	}
	// LAB.md: attached with `ct state new ct timeout set` in a prerouting
	// chain at priority -150, after conntrack (-200) and before DNAT (-100).
	// Only flows to the VIP get the policy: flows straight to ServerAddr keep
	// the kernel defaults, so a test can compare both paths.
	b.WriteString(l.udpTimeoutObject())
	b.WriteString("  chain prerouting_ct {\n    type filter hook prerouting priority -150; policy accept;\n")
	if l.Options.Timeout > 0 {
		fmt.Fprintf(&b, "    ip daddr %s meta l4proto tcp ct state new ct timeout set \"idle\"\n", l.VIP)
	}
	b.WriteString(l.udpTimeoutRule())
	if l.Options.Mode == Drop {
		// LAB.md: `drop` instead of `reject` gives a black hole. Invalid
		// packets are not NATed, so their destination is still the VIP.
		fmt.Fprintf(&b, "    ip daddr %s ct state invalid drop\n", l.VIP)
	}
	b.WriteString("  }\n")
	// LAB.md: DNAT VIP:port -> server:port in prerouting, nat: a NodePort.
	// With two backends, new flows alternate between them (DNAT is decided
	// once per flow, so a connection stays on its backend).
	to := l.ServerAddr.String()
	if l.ServerAddr2.IsValid() {
		to = fmt.Sprintf("numgen inc mod 2 map { 0 : %s, 1 : %s }", l.ServerAddr, l.ServerAddr2)
	}
	fmt.Fprintf(&b, "  chain prerouting_nat {\n    type nat hook prerouting priority dstnat; policy accept;\n    ip daddr %s dnat to %s\n  }\n",
		l.VIP, to)
	b.WriteString(l.masqueradeChain())
	b.WriteString("}\n")
	return b.String()
}

// destroy kills what is left in the lab's namespaces and deletes them. nft
// state and conntrack entries die with the namespace.
func (l *Lab) destroy() error {
	var errs []error
	for _, ns := range l.Namespaces() {
		if err := removeNamespace(ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeNamespace kills any process still inside ns (only processes this lab
// started can be there) and deletes it. A namespace that does not exist is
// not an error.
func removeNamespace(ns string) error {
	if _, err := os.Stat(filepath.Join("/run/netns", ns)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		out, _ := exec.Command("ip", "netns", "pids", ns).Output()
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("namespace %s: processes %v still alive after SIGKILL", ns, pids)
		}
		for _, p := range pids {
			var pid int
			if _, err := fmt.Sscan(p, &pid); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return cmd("ip", "netns", "del", ns)
}

// dumpState logs what the lb knows, to explain a failure.
func (l *Lab) dumpState(t testing.TB) {
	t.Helper()
	for _, c := range [][]string{
		{"ip", "netns", "exec", l.LB, "nft", "list", "ruleset"},
		{"ip", "netns", "exec", l.LB, "conntrack", "-L"},
		{"ip", "netns", "exec", l.LB, "sysctl", "net.netfilter.nf_conntrack_tcp_loose"},
		{"ip", "netns", "exec", l.Client, "ss", "-tanoi"},
		{"ip", "netns", "exec", l.Server, "ss", "-tano"},
	} {
		out, err := exec.Command(c[0], c[1:]...).CombinedOutput()
		t.Logf("lab %s state: %s (err=%v):\n%s", l, strings.Join(c[3:], " "), err, out)
	}
}

// cmd runs one short setup command and returns its output in the error.
func cmd(name string, args ...string) error {
	return cmdStdin("", name, args...)
}

func cmdStdin(stdin, name string, args ...string) error {
	path, err := lookTool(name)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	c := exec.CommandContext(ctx, path, args...)
	if stdin != "" {
		c.Stdin = strings.NewReader(stdin)
	}
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// setupTimeout bounds every setup and teardown command.
const setupTimeout = 30 * time.Second
