package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mesosnet/mesosnet/runtime/reconcile"
)

func TestTerminal(t *testing.T) {
	base := errors.New("subnet 198.19.0.0/16 exhausted")
	tests := []struct {
		name         string
		err          error
		wantTerminal bool
		wantMsg      string
	}{
		{"plain error", base, false, "subnet 198.19.0.0/16 exhausted"},
		{"terminal", reconcile.Terminal(base), true, "subnet 198.19.0.0/16 exhausted"},
		{"wrapped terminal", fmt.Errorf("allocate agent a1: %w", reconcile.Terminal(base)), true, "allocate agent a1: subnet 198.19.0.0/16 exhausted"},
		{"terminal of wrapped", reconcile.Terminal(fmt.Errorf("allocate agent a1: %w", base)), true, "allocate agent a1: subnet 198.19.0.0/16 exhausted"},
		{"double terminal", reconcile.Terminal(reconcile.Terminal(base)), true, "subnet 198.19.0.0/16 exhausted"},
		{"joined", errors.Join(errors.New("other"), reconcile.Terminal(base)), true, "other\nsubnet 198.19.0.0/16 exhausted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := reconcile.IsTerminal(tt.err); got != tt.wantTerminal {
				t.Errorf("IsTerminal = %v, want %v", got, tt.wantTerminal)
			}
			if diff := cmp.Diff(tt.wantMsg, tt.err.Error()); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			if !errors.Is(tt.err, base) {
				t.Errorf("errors.Is(%v, base) = false, want true", tt.err)
			}
		})
	}
}

func TestTerminalKeepsErrorsAs(t *testing.T) {
	err := reconcile.Terminal(&fs.PathError{Op: "open", Path: "/run/mesosnet", Err: fs.ErrNotExist})
	var pe *fs.PathError
	if !errors.As(err, &pe) {
		t.Fatalf("errors.As(%v, *fs.PathError) = false", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", err)
	}
}

func TestTerminalNil(t *testing.T) {
	if err := reconcile.Terminal(nil); err != nil {
		t.Errorf("Terminal(nil) = %v, want nil", err)
	}
	if reconcile.IsTerminal(nil) {
		t.Error("IsTerminal(nil) = true")
	}
}

func TestFunc(t *testing.T) {
	var got []string
	var r reconcile.Reconciler[string] = reconcile.Func[string](func(_ context.Context, key string) (reconcile.Result, error) {
		got = append(got, key)
		if key == "bad" {
			return reconcile.Result{}, errors.New("bad key")
		}
		return reconcile.Result{RequeueAfter: time.Second}, nil
	})
	res, err := r.Reconcile(t.Context(), "node")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(reconcile.Result{RequeueAfter: time.Second}, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	if _, err := r.Reconcile(t.Context(), "bad"); err == nil || err.Error() != "bad key" {
		t.Errorf("Reconcile(bad) error = %v, want bad key", err)
	}
	if diff := cmp.Diff([]string{"node", "bad"}, got); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}
