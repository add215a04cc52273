package pipelines

import (
	"fmt"
	"sort"
	"strings"
)

// Lint is one mistake in a pipeline file.
type Lint struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	Msg    string `json:"message"`
}

// String renders the lint as file:line:col: msg, the form editors jump to.
func (l Lint) String() string {
	return fmt.Sprintf("%s:%d:%d: %s", l.File, l.Line, l.Column, l.Msg)
}

// Error makes a Lint usable as an error.
func (l Lint) Error() string { return l.String() }

// LintError bundles the lints of one file into an error for callers that
// return errors.
type LintError []Lint

func (e LintError) Error() string {
	parts := make([]string, len(e))
	for i, l := range e {
		parts[i] = l.String()
	}
	return strings.Join(parts, "\n")
}

// sortLints orders lints by position; lints at one position keep the order
// they were found in.
func sortLints(ls []Lint) {
	sort.SliceStable(ls, func(i, j int) bool {
		if ls[i].Line != ls[j].Line {
			return ls[i].Line < ls[j].Line
		}
		return ls[i].Column < ls[j].Column
	})
}
