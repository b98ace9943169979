package configs

import (
	"errors"
	"fmt"
	"sort"
)

// Error is one problem in a configuration file.
type Error struct {
	// File is the config file name as given to Load or Parse.
	File string
	// Line is the 1-based line the problem is on, or 0 when unknown.
	Line int
	// Field is the field path, e.g. "paths[2].max_idle"; empty for problems
	// with the file as a whole.
	Field string
	// Message says what is wrong and what would be valid.
	Message string
}

// Error formats the problem as "file:line: field: message", leaving out
// the parts that are empty.
func (e *Error) Error() string { return format(e.File, e.Line, e.Field, e.Message) }

// Warning is a setting that is valid but probably not what was meant, such
// as a schedule that fires more often than a measurement can finish.
type Warning struct {
	File    string
	Line    int
	Field   string
	Message string
}

// String formats the warning as "file:line: field: message".
func (w Warning) String() string { return format(w.File, w.Line, w.Field, w.Message) }

// format joins the parts that are known: "file:line: field: message",
// "field: message" for a path built by a front end (Path.Check).
func format(file string, line int, field, msg string) string {
	s := file
	if line > 0 {
		s = fmt.Sprintf("%s:%d", file, line)
	}
	for _, part := range []string{field, msg} {
		if part != "" && s != "" {
			s += ": " + part
		} else {
			s += part
		}
	}
	return s
}

// problems collects errors and warnings, dropping exact duplicates (a bad
// value in the defaults block is seen once per path that inherits it).
type problems struct {
	file  string
	errs  []*Error
	warns []Warning
	seen  map[string]bool
}

func (p *problems) errorf(line int, field, format string, args ...any) {
	e := &Error{File: p.file, Line: line, Field: field, Message: fmt.Sprintf(format, args...)}
	if p.seen == nil {
		p.seen = map[string]bool{}
	}
	if k := "E" + e.Error(); !p.seen[k] {
		p.seen[k] = true
		p.errs = append(p.errs, e)
	}
}

func (p *problems) warnf(line int, field, format string, args ...any) {
	w := Warning{File: p.file, Line: line, Field: field, Message: fmt.Sprintf(format, args...)}
	if p.seen == nil {
		p.seen = map[string]bool{}
	}
	if k := "W" + w.String(); !p.seen[k] {
		p.seen[k] = true
		p.warns = append(p.warns, w)
	}
}

// result returns the warnings and the errors joined, both sorted by line
// (stable, so problems on one line keep the order they were found in).
func (p *problems) result() ([]Warning, error) {
	sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
	sort.SliceStable(p.warns, func(i, j int) bool { return p.warns[i].Line < p.warns[j].Line })
	errs := make([]error, len(p.errs))
	for i, e := range p.errs {
		errs[i] = e
	}
	return p.warns, errors.Join(errs...)
}
