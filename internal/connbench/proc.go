package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/PID/stat (100 on every Linux architecture Go supports).
const clockTicks = 100

// memory is what /proc/PID/status says about a process's resident set.
type memory struct {
	RSS, Peak int64 // VmRSS and VmHWM, bytes
}

// readMemory reads VmRSS and VmHWM of pid.
func readMemory(pid int) (memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	var m memory
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.Peak
		default:
			continue
		}
		f := strings.Fields(v) // "123456 kB"
		if len(f) != 2 || f[1] != "kB" {
			return memory{}, fmt.Errorf("/proc/%d/status: %s: unexpected %q", pid, k, v)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("/proc/%d/status: %s: %w", pid, k, err)
		}
		*dst = n << 10
	}
	if m.RSS == 0 || m.Peak == 0 {
		return memory{}, fmt.Errorf("/proc/%d/status: no VmRSS or VmHWM", pid)
	}
	return m, nil
}

// readCPUTicks returns utime+stime of pid, in clock ticks.
func readCPUTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count the fields after its closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", pid, f[11], f[12])
	}
	return ut + st, nil
}

// connected counts the ESTABLISHED TCP sockets connected to
// 127.0.0.1:port: the client ends of the connections to a server on
// loopback. (Not the server's ends: when its accept queue overflows while
// thousands of connections open at once, the kernel can leave it server
// ends whose client gave up; and not by port alone: other programs'
// sockets on other addresses may use the same port number.)
func connected(port int) (int, error) {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return 0, err
	}
	// /proc/net/tcp writes the address as the hex of its bytes in host
	// order: 127.0.0.1 is 0100007F on little-endian machines, 7F000001 on
	// big-endian ones.
	want := [][]byte{[]byte(fmt.Sprintf("0100007F:%04X", port)), []byte(fmt.Sprintf("7F000001:%04X", port))}
	n := 0
	for line := range bytes.Lines(b) {
		f := bytes.Fields(line)
		// sl local_address rem_address st ...
		if len(f) < 4 || !bytes.Equal(f[3], []byte("01")) {
			continue
		}
		if bytes.Equal(f[2], want[0]) || bytes.Equal(f[2], want[1]) {
			n++
		}
	}
	return n, nil
}

// sockets counts the open socket descriptors of pid.
func sockets(pid int) (int, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink(dir + "/" + e.Name()); err == nil && strings.HasPrefix(l, "socket:") {
			n++
		}
	}
	return n, nil
}
