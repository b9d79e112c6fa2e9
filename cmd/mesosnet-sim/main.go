// Command mesosnet-sim is a simulated Apache Mesos master for tests, the
// demo and anyone who wants to try mesosnet without a Mesos cluster. It
// serves the operator API v1 (GET_STATE, SUBSCRIBE, ...), the v0
// /master/state endpoint and a control API under /sim/v1/ that adds agents,
// frameworks and tasks and drives their events. It can start from a captured
// Mesos state or stream (--replay) or from a synthetic cluster
// (--synthetic). See runtime/mesossim for the details.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/mesosnet/mesosnet/runtime/mesossim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "mesosnet-sim:", err)
		os.Exit(1)
	}
}

// run serves the simulator until ctx ends; ready, when set, is called with
// the listening address.
func run(ctx context.Context, args []string, ready func(net.Addr)) error {
	fs := flag.NewFlagSet("mesosnet-sim", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:5050", "address to serve the master on")
	replay := fs.String("replay", "", "start from this Mesos capture: a v1 SUBSCRIBE stream (its events are replayed), a v1 GET_STATE, or a v0 master or agent state")
	synthetic := fs.Int("synthetic", 0, "start from a synthetic cluster of this many tasks")
	seed := fs.Int64("seed", 1, "seed of the synthetic cluster")
	leader := fs.String("leader", "", "act as a non-leading master that redirects to this leader (URL or host:port)")
	heartbeat := fs.Duration("heartbeat", mesossim.DefaultHeartbeatInterval, "SUBSCRIBE heartbeat interval")
	replayInterval := fs.Duration("replay-interval", 0, "delay between replayed events")
	hostname := fs.String("hostname", "", "hostname the master reports (default: its IP address)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	level, err := zap.ParseAtomicLevel(*logLevel)
	if err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = level
	log, err := cfg.Build()
	if err != nil {
		return fmt.Errorf("create logger: %w", err)
	}
	defer func() { _ = log.Sync() }()
	log = log.Named("mesosnet-sim")

	var scenario *mesossim.Scenario
	switch {
	case *replay != "" && *synthetic != 0:
		return errors.New("--replay and --synthetic are exclusive")
	case *synthetic < 0:
		return fmt.Errorf("--synthetic %d: want a positive number of tasks", *synthetic)
	case *replay != "":
		if scenario, err = mesossim.LoadScenario(*replay); err != nil {
			return err
		}
		log.Info("Loaded scenario", zap.String("file", *replay), zap.String("format", string(scenario.Format)),
			zap.Int("tasks", len(scenario.State.GetGetTasks().GetTasks())), zap.Int("events", len(scenario.Events)))
	case *synthetic > 0:
		scenario = mesossim.SyntheticScenario(*synthetic, *seed)
		log.Info("Generated synthetic cluster", zap.Int("tasks", *synthetic), zap.Int64("seed", *seed))
	}
	sim, err := mesossim.New(mesossim.Options{
		Logger:            log,
		Scenario:          scenario,
		Hostname:          *hostname,
		Leader:            *leader,
		HeartbeatInterval: *heartbeat,
		ReplayInterval:    *replayInterval,
	})
	if err != nil {
		return err
	}
	defer sim.Close()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	log.Info("Started Mesos master", zap.Stringer("address", ln.Addr()), zap.String("leader", *leader))
	if ready != nil {
		ready(ln.Addr())
	}
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("Received shutdown signal")
	sim.Close() // ends SUBSCRIBE streams so that Shutdown does not wait for them
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}
