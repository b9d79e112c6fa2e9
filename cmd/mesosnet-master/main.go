// Command mesosnet-master runs on every Mesos master (3 or 5) as a static
// service: a raft node of the mesosnet cluster state, the cluster API, and,
// on the raft leader, the controllers that follow Mesos and allocate agent
// subnets and VIP addresses. See runtime/master and the README.
//
//	mesosnet-master --id m1 --data-dir /var/lib/mesosnet/master \
//	    --peer m1,10.0.0.1:62501,10.0.0.1:62080 --peer m2,... --peer m3,... \
//	    --mesos-masters http://10.0.0.1:5050,http://10.0.0.2:5050 \
//	    --token-file /etc/mesosnet/token
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mesosnet/mesosnet/runtime/logging"
	"github.com/mesosnet/mesosnet/runtime/master"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], nil); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "mesosnet-master:", err)
		os.Exit(1)
	}
}

// run runs the master until ctx ends; started, when set, is called with the
// master once it is listening.
func run(ctx context.Context, args []string, started func(*master.Master)) error {
	fs := flag.NewFlagSet("mesosnet-master", flag.ContinueOnError)
	flags := master.NewFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := flags.Config()
	if err != nil {
		return err
	}
	log, err := logging.New(*flags.Logging)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	cfg.Logger = log.Named("mesosnet-master")
	m, err := master.New(cfg)
	if err != nil {
		return err
	}
	if started != nil {
		started(m)
	}
	return m.Run(ctx)
}
