package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// lockDir holds one lock file per lab slot. A slot is owned by whoever holds
// the flock on its file; the kernel releases the lock when the owner dies, so
// a crashed test binary never blocks a slot for good.
const lockDir = "/run/idleprobe-lab"

// claimSlot takes the first free slot, across every process on the machine,
// and removes namespaces a dead owner of that slot may have left. release
// gives the slot back; call it only after the lab's namespaces are deleted.
func claimSlot() (slot int, release func(), err error) {
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return 0, nil, fmt.Errorf("creating lock directory: %w", err)
	}
	for slot = 0; slot < maxSlots; slot++ {
		f, err := os.OpenFile(slotLockPath(slot), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return 0, nil, fmt.Errorf("opening slot lock: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				continue
			}
			return 0, nil, fmt.Errorf("locking %s: %w", f.Name(), err)
		}
		// Whoever held this slot before is gone: delete what they left.
		for _, ns := range slotNamespaces(slot) {
			if err := removeNamespace(ns); err != nil {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
				return 0, nil, fmt.Errorf("removing stale namespace: %w", err)
			}
		}
		return slot, func() {
			_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
			f.Close()
		}, nil
	}
	return 0, nil, fmt.Errorf("all %d lab slots are in use (each test using lab.New holds one until it ends)", maxSlots)
}

func slotLockPath(slot int) string {
	return filepath.Join(lockDir, fmt.Sprintf("slot-%02d.lock", slot))
}

func slotNamespaces(slot int) []string {
	p := fmt.Sprintf("%s%02d-", NamespacePrefix, slot)
	return []string{p + "client", p + "lb", p + "server"}
}

// Leftovers lists lab namespaces that no live lab owns: namespaces whose
// slot lock is free. A clean run leaves none. Namespaces of labs running in
// other processes are not listed.
func Leftovers() ([]string, error) {
	entries, err := os.ReadDir("/run/netns")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var left []string
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, NamespacePrefix) {
			continue
		}
		var slot int
		if _, err := fmt.Sscanf(strings.TrimPrefix(name, NamespacePrefix), "%d", &slot); err != nil {
			left = append(left, name)
			continue
		}
		owned, err := slotOwned(slot)
		if err != nil {
			return nil, err
		}
		if !owned {
			left = append(left, name)
		}
	}
	return left, nil
}

// slotOwned reports whether some lab (in this or another process) holds slot.
func slotOwned(slot int) (bool, error) {
	f, err := os.OpenFile(slotLockPath(slot), os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false, nil
}
