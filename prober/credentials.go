package prober

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"unicode/utf8"
)

// Credentials say where the password of a database or Redis login comes
// from: a file or an environment variable, never the command line or the
// target URL (they show in process lists, shell histories and logs). At
// most one of the two is set; neither means no password.
type Credentials struct {
	// PasswordFile names a file holding the password (one trailing newline
	// is dropped).
	PasswordFile string
	// PasswordEnv names an environment variable holding the password.
	PasswordEnv string
}

// maxPasswordBytes bounds a password read from a file.
const maxPasswordBytes = 4 << 10

// errNoPassword says that no password source is configured.
var errNoPassword = errors.New("no password configured")

// Check checks where the password comes from without reading it: one
// source at most, a password file that is a readable regular file of
// password size, an environment variable name that can be set. Whether the
// variable is set is only known where the measurement runs.
func (c Credentials) Check() error {
	switch {
	case c.PasswordFile != "" && c.PasswordEnv != "":
		return errors.New("password file and password environment variable are both set; give one")
	case c.PasswordFile != "":
		_, err := c.password()
		return err
	case c.PasswordEnv != "" && (strings.ContainsAny(c.PasswordEnv, "=\x00") || strings.TrimSpace(c.PasswordEnv) != c.PasswordEnv):
		return fmt.Errorf("password environment variable %q is not a variable name", c.PasswordEnv)
	}
	return nil
}

// password reads the password. It returns errNoPassword when no source is
// set. Errors name the file or variable, never the content.
func (c Credentials) password() (string, error) {
	switch {
	case c.PasswordFile != "" && c.PasswordEnv != "":
		return "", errors.New("password file and password environment variable are both set; give one")
	case c.PasswordFile != "":
		st, err := os.Stat(c.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("password file: %w", err)
		}
		if !st.Mode().IsRegular() {
			return "", fmt.Errorf("password file %s is not a regular file", c.PasswordFile)
		}
		if st.Size() > maxPasswordBytes {
			return "", fmt.Errorf("password file %s is larger than %d bytes: not a password", c.PasswordFile, maxPasswordBytes)
		}
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("password file: %w", err)
		}
		b = bytes.TrimSuffix(b, []byte("\n"))
		b = bytes.TrimSuffix(b, []byte("\r"))
		return checkPassword(string(b), "password file "+c.PasswordFile)
	case c.PasswordEnv != "":
		v, ok := os.LookupEnv(c.PasswordEnv)
		if !ok {
			return "", fmt.Errorf("password environment variable %s is not set", c.PasswordEnv)
		}
		return checkPassword(v, "password environment variable "+c.PasswordEnv)
	}
	return "", errNoPassword
}

// checkPassword refuses passwords no protocol here can carry.
func checkPassword(p, where string) (string, error) {
	switch {
	case p == "":
		return "", fmt.Errorf("%s is empty", where)
	case !utf8.ValidString(p):
		return "", fmt.Errorf("%s is not valid UTF-8", where)
	case bytes.ContainsAny([]byte(p), "\x00\n"):
		return "", fmt.Errorf("%s contains a NUL or a line break", where)
	}
	return p, nil
}
