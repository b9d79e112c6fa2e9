// Package instrument holds the Prometheus plumbing shared by mesosnet's
// components: registering collectors so that a component rebuilt in the same
// process (a controller recreated on every raft leadership, a second store in
// a test) reuses the collectors registered the first time.
package instrument

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers c with reg and returns it, or returns the equal
// collector registered before. A nil reg leaves c unregistered. Any other
// registration error is a programming error (a name clash with a different
// metric) and panics, naming what was being registered.
func Register[C prometheus.Collector](reg prometheus.Registerer, what string, c C) C {
	if reg == nil {
		return c
	}
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic(fmt.Sprintf("register %s metric: %v", what, err))
}
