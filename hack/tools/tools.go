//go:build tools

// Package tools pins the versions of the developer tools the Makefile runs
// (`go run` / `go install` from this module), so every machine lints with
// the same versions.
package tools

import (
	_ "golang.org/x/perf/cmd/benchstat"
	_ "honnef.co/go/tools/cmd/staticcheck"
)
