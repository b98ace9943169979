package prober

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// dbPorts are the default ports of the database schemes.
var dbPorts = map[string]string{"postgres": "5432", "mysql": "3306", "redis": "6379", "rediss": "6379"}

// checkDBTarget checks the parts of a postgres, mysql, redis or rediss URL:
// a user (postgres, mysql), at most one database name, and no query.
func checkDBTarget(scheme string, u *url.URL) error {
	shown := u.Redacted()
	user := ""
	if u.User != nil {
		user = u.User.Username()
	}
	if u.Fragment != "" {
		return fmt.Errorf("target %q: %s targets take no fragment", shown, scheme)
	}
	if u.RawQuery != "" {
		if scheme != "postgres" {
			return fmt.Errorf("target %q: %s targets take no query (settings go in the config or flags)", shown, scheme)
		}
		if _, err := pgSSLMode(u); err != nil {
			return fmt.Errorf("target %q: %v", shown, err)
		}
	}
	db := dbName(u)
	if strings.Contains(db, "/") {
		return fmt.Errorf("target %q: the path must be one database name (example: %s)", shown, dbExample(scheme))
	}
	switch scheme {
	case "postgres", "mysql":
		if user == "" {
			return fmt.Errorf("target %q: %s targets need a user (example: %s)", shown, scheme, dbExample(scheme))
		}
	case "redis", "rediss":
		if db != "" {
			if _, err := strconv.ParseUint(db, 10, 16); err != nil {
				return fmt.Errorf("target %q: a Redis database is a number (example: %s/0)", shown, dbExample(scheme))
			}
		}
	}
	return nil
}

// dbName is the database named by the URL's path ("" when none).
func dbName(u *url.URL) string { return strings.TrimPrefix(u.Path, "/") }

// dbUser is the user named in the URL ("" when none).
func dbUser(u *url.URL) string {
	if u.User == nil {
		return ""
	}
	return u.User.Username()
}

func dbExample(scheme string) string {
	switch scheme {
	case "postgres":
		return "postgres://app@db.example:5432/app"
	case "mysql":
		return "mysql://app@db.example:3306/app"
	}
	return scheme + "://cache.example:6379"
}

// redactRaw hides the password of a URL that url.Parse could not read, for
// error messages: "scheme://user:xxxxx@host...".
func redactRaw(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		return s
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return s
	}
	return s[:i+3] + user + ":xxxxx" + rest[at:]
}

// The sslmode values of a postgres target, as libpq names them. Modes
// that fall back to plain text (allow, prefer) are not offered: a
// measurement never tries a second way.
const (
	sslDisable    = "disable"     // plain TCP (the default)
	sslRequire    = "require"     // TLS, the certificate not verified
	sslVerifyFull = "verify-full" // TLS, the certificate and host name verified
)

// pgSSLMode reads ?sslmode= of a postgres target ("disable" when absent);
// it is the only query parameter.
func pgSSLMode(u *url.URL) (string, error) {
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return "", fmt.Errorf("query %q is not valid", u.RawQuery)
	}
	mode := sslDisable
	for k, v := range q {
		if k != "sslmode" || len(v) != 1 {
			return "", fmt.Errorf("the only query parameter is sslmode, given once (disable, require or verify-full)")
		}
		mode = v[0]
	}
	switch mode {
	case sslDisable, sslRequire, sslVerifyFull:
		return mode, nil
	case "allow", "prefer":
		return "", fmt.Errorf("sslmode %q would fall back to plain text; choose disable, require or verify-full", mode)
	}
	return "", fmt.Errorf("sslmode %q is not one of disable, require, verify-full", mode)
}

// UsesTLS reports whether connections to t use TLS: https, h2, rediss, and
// postgres with sslmode require or verify-full.
func (t Target) UsesTLS() bool {
	switch t.Scheme {
	case "https", "h2", "wss", "grpcs", "rediss":
		return true
	case "postgres":
		mode, err := pgSSLMode(t.URL)
		return err == nil && mode != sslDisable
	}
	return false
}
