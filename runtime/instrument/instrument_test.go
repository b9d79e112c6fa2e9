package instrument

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRegisterReusesEqualCollector(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "mesosnet_test_total", Help: "test"}
	first := Register(reg, "test", prometheus.NewCounter(opts))
	second := Register(reg, "test", prometheus.NewCounter(opts))
	if first != second {
		t.Fatal("second registration did not return the collector registered first")
	}
}

func TestRegisterNilRegistererKeepsCollector(t *testing.T) {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "mesosnet_test_total", Help: "test"})
	if got := Register(nil, "test", c); got != c {
		t.Fatal("nil registerer did not return the collector")
	}
}

func TestRegisterPanicsOnClash(t *testing.T) {
	reg := prometheus.NewRegistry()
	Register(reg, "test", prometheus.NewCounter(prometheus.CounterOpts{Name: "mesosnet_test", Help: "test"}))
	defer func() {
		msg, _ := recover().(string)
		if !strings.Contains(msg, "register clash metric") {
			t.Fatalf("recovered %q, want a panic naming the clash", msg)
		}
	}()
	Register(reg, "clash", prometheus.NewGauge(prometheus.GaugeOpts{Name: "mesosnet_test", Help: "other"}))
}
