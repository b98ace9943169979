package atomicfile

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWriteReplacesAndLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "st[a]te*.json")
	for _, content := range []string{"first", "second"} {
		if err := Write(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(file)
		if err != nil || string(got) != content {
			t.Fatalf("content %q (%v), want %q", got, err, content)
		}
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	if left := Leftovers(file); len(left) != 0 {
		t.Errorf("leftovers after clean writes: %v", left)
	}
	// A write killed before its rename leaves its temporary file; another
	// file's temporary file is not this file's leftover.
	killed := filepath.Join(dir, tempPrefix(file)+"123")
	other := filepath.Join(dir, tempPrefix(filepath.Join(dir, "other.json"))+"1")
	for _, f := range []string{killed, other} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if left := Leftovers(file); !slices.Equal(left, []string{killed}) {
		t.Errorf("Leftovers = %v, want [%s]", left, killed)
	}
}

func TestWriteFailureLeavesTheOldFile(t *testing.T) {
	// The rename cannot replace a non-empty directory: the write fails, and
	// what was there stays, with no temporary file left beside it.
	file := filepath.Join(t.TempDir(), "state.json")
	if err := os.MkdirAll(filepath.Join(file, "kept"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Write(file, []byte("new"), 0o600); err == nil {
		t.Fatal("Write over a non-empty directory succeeded")
	}
	if _, err := os.Stat(filepath.Join(file, "kept")); err != nil {
		t.Errorf("the old content is gone: %v", err)
	}
	if left := Leftovers(file); len(left) != 0 {
		t.Errorf("temporary files left after a failed write: %v", left)
	}
}
