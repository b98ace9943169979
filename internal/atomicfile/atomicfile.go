// Package atomicfile replaces a file so that a reader, or the next start
// after a crash, sees the old content or the new one, never a mix.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// tempPrefix starts the name of the temporary file Write creates beside
// filename; a random part follows.
func tempPrefix(filename string) string { return "." + filepath.Base(filename) + ".tmp-" }

// Leftovers returns the temporary files that writes of filename interrupted
// by a crash or a kill left beside it, for their owner to remove at start.
func Leftovers(filename string) []string {
	escape := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(filename), escape.Replace(tempPrefix(filename))+"*"))
	return matches
}

// Write writes data to a temporary file beside filename, syncs it, renames
// it over filename and syncs the directory. On error the old file is left
// as it was and the temporary file is removed.
func Write(filename string, data []byte, perm os.FileMode) (err error) {
	dir := filepath.Dir(filename)
	f, err := os.CreateTemp(dir, tempPrefix(filename)+"*")
	if err != nil {
		return fmt.Errorf("write %s: %w", filename, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
			err = fmt.Errorf("write %s: %w", filename, err)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, filename); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
