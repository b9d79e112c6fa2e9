// Command mesosnetctl is the operators' command line of mesosnet: Mesos state
// as mesosnet sees it today; cluster status, agents, subnets, VIPs and raft
// peers as the master cluster grows them. `mesosnetctl help` lists commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mesosnet/mesosnet/runtime/ctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := ctl.Main(ctx, os.Args[1:], &ctl.Env{Stdout: os.Stdout, Stderr: os.Stderr})
	stop()
	os.Exit(code)
}
