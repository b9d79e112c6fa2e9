// Package logging builds the zap loggers of every mesosnet binary and holds
// the field helpers that spell each structured-log key the same way across the
// project (lowerCamelCase, initialisms upper case: agentID, taskID, VIP, CIDR,
// raftIndex).
//
// Loggers are built once in a main from Options (usually filled by Flags) and
// passed into constructors, each component naming its own child logger. No
// package keeps a global logger.
package logging

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Log formats accepted by Options.Format.
const (
	FormatJSON    = "json"
	FormatConsole = "console"
)

// levels are the accepted values of Options.Level, in increasing severity.
var levels = []string{"debug", "info", "warn", "error"}

// formats are the accepted values of Options.Format.
var formats = []string{FormatJSON, FormatConsole}

// Options configures New.
type Options struct {
	// Level is the minimum level logged: "debug", "info", "warn" or "error".
	// Empty means "info", or "debug" when Development is set.
	Level string
	// Format is the encoding: "json" or "console". Empty means "json", or
	// "console" when Development is set.
	Format string
	// Development switches to development behaviour: no sampling, stack
	// traces from Warn up, DPanic panics, durations written as "1.5s".
	Development bool
	// Output receives the log lines; nil means standard error. Writes are
	// serialised by the logger.
	Output io.Writer
}

// New builds a logger from opts. Production defaults are JSON lines with
// ISO8601 timestamps, the caller, sampling (per second and message: the first
// 100 entries, then every 100th) and stack traces only from DPanic up, since
// errors already carry their context through wrapping. It fails on an unknown
// level or format, naming the bad value.
func New(opts Options) (*zap.Logger, error) {
	level, err := parseLevel(opts.Level, opts.Development)
	if err != nil {
		return nil, err
	}
	format := opts.Format
	if format == "" {
		format = FormatJSON
		if opts.Development {
			format = FormatConsole
		}
	}

	// Keys stay the production ones in every mode so that JSON consumers see
	// one schema; development only changes how values read.
	encCfg := zap.NewProductionEncoderConfig()
	encCfg.EncodeTime = zapcore.ISO8601TimeEncoder
	if opts.Development {
		encCfg.EncodeDuration = zapcore.StringDurationEncoder
	}
	if format == FormatConsole {
		encCfg.EncodeLevel = zapcore.CapitalLevelEncoder
	}

	var enc zapcore.Encoder
	switch format {
	case FormatJSON:
		enc = zapcore.NewJSONEncoder(encCfg)
	case FormatConsole:
		enc = zapcore.NewConsoleEncoder(encCfg)
	default:
		return nil, fmt.Errorf("invalid log format %q: want one of %s", opts.Format, strings.Join(formats, ", "))
	}

	var out io.Writer = os.Stderr
	if opts.Output != nil {
		out = opts.Output
	}
	sink := zapcore.Lock(zapcore.AddSync(out))

	core := zapcore.NewCore(enc, sink, level)
	zopts := []zap.Option{zap.ErrorOutput(sink), zap.AddCaller()}
	if opts.Development {
		zopts = append(zopts, zap.Development(), zap.AddStacktrace(zapcore.WarnLevel))
	} else {
		core = zapcore.NewSamplerWithOptions(core, time.Second, 100, 100)
		zopts = append(zopts, zap.AddStacktrace(zapcore.DPanicLevel))
	}
	return zap.New(core, zopts...), nil
}

// parseLevel maps an Options.Level to a zap level.
func parseLevel(s string, development bool) (zapcore.Level, error) {
	switch s {
	case "":
		if development {
			return zapcore.DebugLevel, nil
		}
		return zapcore.InfoLevel, nil
	case "debug":
		return zapcore.DebugLevel, nil
	case "info":
		return zapcore.InfoLevel, nil
	case "warn":
		return zapcore.WarnLevel, nil
	case "error":
		return zapcore.ErrorLevel, nil
	default:
		return zapcore.InfoLevel, fmt.Errorf("invalid log level %q: want one of %s", s, strings.Join(levels, ", "))
	}
}

// Flags registers --log-level and --log-format on fs and returns the Options
// they fill when fs is parsed (defaults "info" and "json"). Parsing rejects a
// value New would reject, so a typo fails at the command line.
func Flags(fs *flag.FlagSet) *Options {
	o := &Options{Level: "info", Format: FormatJSON}
	fs.Var(&choice{dst: &o.Level, allowed: levels}, "log-level",
		"minimum log level: "+strings.Join(levels, ", "))
	fs.Var(&choice{dst: &o.Format, allowed: formats}, "log-format",
		"log encoding: "+strings.Join(formats, ", "))
	return o
}

// choice is a flag.Value accepting one of a fixed set of strings.
type choice struct {
	dst     *string
	allowed []string
}

// String returns the current value (flag prints it as the default).
func (c *choice) String() string {
	if c == nil || c.dst == nil {
		return ""
	}
	return *c.dst
}

// Set stores v if it is allowed.
func (c *choice) Set(v string) error {
	for _, a := range c.allowed {
		if v == a {
			*c.dst = v
			return nil
		}
	}
	return fmt.Errorf("want one of %s", strings.Join(c.allowed, ", "))
}
