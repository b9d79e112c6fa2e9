// Package ctl implements the commands of mesosnetctl, the operators' command
// line: flag parsing per subcommand, then output as aligned tables for people
// or JSON (`-o json`) for scripts. The mains in cmd/ stay thin; everything
// here is testable with in-memory writers.
package ctl

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
)

// Version is the mesosnet version printed by `mesosnetctl version`; the
// build sets it with -ldflags "-X github.com/mesosnet/mesosnet/runtime/ctl.Version=...".
var Version = "dev"

// ErrUsage marks a command line that could not be understood; Main exits 2.
var ErrUsage = errors.New("usage")

// command is one runnable leaf of the command tree.
type command struct {
	summary string
	run     func(ctx context.Context, env *Env, args []string) error
}

// Env is where a command writes.
type Env struct {
	Stdout io.Writer
	Stderr io.Writer
}

// commands maps "group verb" (or a single word) to a command.
var commands = map[string]command{
	"version":      {"print the mesosnet version", runVersion},
	"mesos leader": {"show the leading Mesos master", runMesosLeader},
	"mesos tasks":  {"list Mesos tasks as mesosnet normalises them (--watch follows the event stream)", runMesosTasks},
	"mesos agents": {"list Mesos agents with the IP mesosnet uses for them", runMesosAgents},

	"status":            {"show the mesosnet cluster: raft leader, revision, counts, the leader's Mesos stream", runStatus},
	"agents":            {"list the registered agents and their VTEP allocations", runAgents},
	"subnets":           {"list the agent subnets of every overlay with their bridges", runSubnets},
	"vips":              {"list the VIPs with their addresses and backends (dcos-net /v1/vips)", runVIPs},
	"tasks":             {"list the tasks the masters hold (normalised Mesos tasks)", runTasks},
	"raft peers":        {"list the raft servers", runRaftPeers},
	"raft peers add":    {"add a master as a raft voter", runRaftPeersAdd},
	"raft peers remove": {"remove a raft server by ID", runRaftPeersRemove},
	"agent delete":      {"delete agents by IP and release their allocations", runAgentDelete},
}

// Main runs mesosnetctl with args (without the program name) and returns the
// process exit code: 0 success, 1 failure, 2 usage error.
func Main(ctx context.Context, args []string, env *Env) int {
	cmd, rest, ok := lookup(args)
	if !ok {
		usage(env.Stderr)
		if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
			return 0
		}
		fmt.Fprintf(env.Stderr, "mesosnetctl: unknown command %q\n", strings.Join(args, " "))
		return 2
	}
	if err := cmd.run(ctx, env, rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(env.Stderr, "mesosnetctl: %v\n", err)
		if errors.Is(err, ErrUsage) {
			return 2
		}
		return 1
	}
	return 0
}

func lookup(args []string) (command, []string, bool) {
	if len(args) >= 3 {
		if c, ok := commands[args[0]+" "+args[1]+" "+args[2]]; ok {
			return c, args[3:], true
		}
	}
	if len(args) >= 2 {
		if c, ok := commands[args[0]+" "+args[1]]; ok {
			return c, args[2:], true
		}
	}
	if len(args) >= 1 {
		if c, ok := commands[args[0]]; ok {
			return c, args[1:], true
		}
	}
	return command{}, nil, false
}

func usage(w io.Writer) {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "Usage: mesosnetctl <command> [flags]   (mesosnetctl <command> -h for its flags)")
	fmt.Fprintln(w, "\nCommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-18s %s\n", n, commands[n].summary)
	}
}

// newFlags returns a flag set for the command name whose errors are returned,
// not printed-and-exited.
func newFlags(name string, env *Env) *flag.FlagSet {
	fs := flag.NewFlagSet("mesosnetctl "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return fs
}

// parse parses args and turns flag errors into usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", ErrUsage, fs.Args())
	}
	return nil
}

// output is the -o flag: "table" (default) or "json".
type output string

func outputFlag(fs *flag.FlagSet) *output {
	o := output("table")
	fs.Func("o", "output format: table or json", func(s string) error {
		switch s {
		case "table", "json":
			o = output(s)
			return nil
		}
		return fmt.Errorf("output format %q: want table or json", s)
	})
	return &o
}

// write prints v as indented JSON, or rows as an aligned table with header.
func (o output) write(w io.Writer, v any, header []string, rows [][]string) error {
	if o == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func runVersion(_ context.Context, env *Env, args []string) error {
	fs := newFlags("version", env)
	if err := parse(fs, args); err != nil {
		return err
	}
	_, err := fmt.Fprintf(env.Stdout, "mesosnetctl %s\n", Version)
	return err
}
