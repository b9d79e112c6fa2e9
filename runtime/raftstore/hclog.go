package raftstore

import (
	"fmt"
	"io"
	"log"

	"github.com/hashicorp/go-hclog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapHCLog adapts a zap logger to the hclog.Logger that hashicorp/raft
// logs through. Raft's trace level maps to zap's debug; levels are fixed by
// the zap core (SetLevel does nothing).
type zapHCLog struct {
	root    *zap.Logger // without the name, for ResetNamed
	z       *zap.Logger
	name    string
	implied []any
}

func newHCLog(z *zap.Logger) hclog.Logger {
	// Skip Log and the level method so the caller is raft's line.
	z = z.WithOptions(zap.AddCallerSkip(2))
	return &zapHCLog{root: z, z: z}
}

func zapLevel(l hclog.Level) zapcore.Level {
	switch l {
	case hclog.Trace, hclog.Debug:
		return zapcore.DebugLevel
	case hclog.Warn:
		return zapcore.WarnLevel
	case hclog.Error:
		return zapcore.ErrorLevel
	default:
		return zapcore.InfoLevel
	}
}

// fields turns hclog's alternating key/value arguments into zap fields.
func fields(args []any) []zap.Field {
	out := make([]zap.Field, 0, (len(args)+1)/2)
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			out = append(out, zap.Any("extraValue", args[i]))
			break
		}
		key, ok := args[i].(string)
		if !ok {
			key = fmt.Sprint(args[i])
		}
		v := args[i+1]
		if f, ok := v.(hclog.Format); ok && len(f) > 0 {
			if format, ok := f[0].(string); ok {
				v = fmt.Sprintf(format, f[1:]...)
			}
		}
		out = append(out, zap.Any(key, v))
	}
	return out
}

func (l *zapHCLog) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off {
		return
	}
	if ce := l.z.Check(zapLevel(level), msg); ce != nil {
		ce.Write(fields(args)...)
	}
}

func (l *zapHCLog) Trace(msg string, args ...any) { l.Log(hclog.Trace, msg, args...) }
func (l *zapHCLog) Debug(msg string, args ...any) { l.Log(hclog.Debug, msg, args...) }
func (l *zapHCLog) Info(msg string, args ...any)  { l.Log(hclog.Info, msg, args...) }
func (l *zapHCLog) Warn(msg string, args ...any)  { l.Log(hclog.Warn, msg, args...) }
func (l *zapHCLog) Error(msg string, args ...any) { l.Log(hclog.Error, msg, args...) }

func (l *zapHCLog) IsTrace() bool { return l.z.Core().Enabled(zapcore.DebugLevel) }
func (l *zapHCLog) IsDebug() bool { return l.z.Core().Enabled(zapcore.DebugLevel) }
func (l *zapHCLog) IsInfo() bool  { return l.z.Core().Enabled(zapcore.InfoLevel) }
func (l *zapHCLog) IsWarn() bool  { return l.z.Core().Enabled(zapcore.WarnLevel) }
func (l *zapHCLog) IsError() bool { return l.z.Core().Enabled(zapcore.ErrorLevel) }

func (l *zapHCLog) ImpliedArgs() []any { return l.implied }

func (l *zapHCLog) With(args ...any) hclog.Logger {
	return &zapHCLog{root: l.root, z: l.z.With(fields(args)...), name: l.name, implied: append(l.implied[:len(l.implied):len(l.implied)], args...)}
}

func (l *zapHCLog) Name() string { return l.name }

func (l *zapHCLog) Named(name string) hclog.Logger {
	full := name
	if l.name != "" {
		full = l.name + "." + name
	}
	return &zapHCLog{root: l.root, z: l.z.Named(name), name: full, implied: l.implied}
}

func (l *zapHCLog) ResetNamed(name string) hclog.Logger {
	return &zapHCLog{root: l.root, z: l.root.Named(name).With(fields(l.implied)...), name: name, implied: l.implied}
}

func (l *zapHCLog) SetLevel(hclog.Level) {}

func (l *zapHCLog) GetLevel() hclog.Level {
	for _, lv := range []hclog.Level{hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if l.z.Core().Enabled(zapLevel(lv)) {
			return lv
		}
	}
	return hclog.Off
}

func (l *zapHCLog) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return zap.NewStdLog(l.z)
}

func (l *zapHCLog) StandardWriter(*hclog.StandardLoggerOptions) io.Writer {
	return l.StandardLogger(nil).Writer()
}
