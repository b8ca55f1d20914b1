package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mealab/mealab/presets"
	"github.com/mealab/mealab/serve"
)

const serveUsage = `Usage: mealab serve --authorized-keys FILE [flags]

The classroom server: everyone in FILE (an OpenSSH authorized_keys file; the
comment after each key names its person) types ` + "`ssh -p PORT HOST`" + ` and lands in
their own lab, recorded under --data-dir/users/NAME/sessions. Runs keep
training when people disconnect (--pause-on-leave pauses them instead).

  ssh -p 2222 HOST                    your own lab
  ssh -t -p 2222 HOST follow teacher  someone's lab, read-only (T takes a copy of a run)
  ssh -t -p 2222 HOST admin           the teacher's view: who is here, CPU shares, kick

Examples:
  mealab serve --addr :2222 --authorized-keys class_keys
  mealab serve --addr :2222 --authorized-keys class_keys --open   # and guests
  mealab serve --addr 127.0.0.1:2222 --open --max-runs 1          # a workshop

Flags:
`

func cmdServe(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var cfg serve.Config
	var sets setFlags
	lim := serve.DefaultLimits()
	var diskMB int64 = lim.DiskBytes >> 20
	var threads int
	var logJSON bool
	fs.StringVar(&cfg.Addr, "addr", ":2222", "listen on `host:port`")
	fs.StringVar(&cfg.AuthorizedKeys, "authorized-keys", "", "OpenSSH authorized_keys `FILE`; the comment after a key names its person")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "host key and everyone's sessions (default $XDG_DATA_HOME/mealab/serve)")
	fs.BoolVar(&cfg.Open, "open", false, "let unknown keys in as guests (their own lab, nothing kept after they leave)")
	fs.StringVar(&cfg.Teacher, "teacher", "teacher", "the `NAME` with the admin view (followable by default)")
	fs.Float64Var(&cfg.TeacherWeight, "teacher-weight", 1, "the teacher's weight in the CPU share (2 = twice a student's)")
	fs.StringVar(&cfg.Preset, "preset", "quick", "what a new lab starts with")
	fs.Var(&sets, "set", "override a value of that preset, `key=value` (repeatable)")
	fs.StringVar(&cfg.DataFile, "data", "", "a text `FILE` runs may train on (no other file of the server is readable)")
	fs.BoolVar(&cfg.PauseOnLeave, "pause-on-leave", false, "pause a person's runs when they disconnect, resume when they return")
	fs.IntVar(&cfg.MaxConns, "max-conns", 64, "connections at once; more are turned away")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 30*time.Minute, "disconnect after this long without a key press")
	fs.DurationVar(&cfg.WriteTimeout, "write-timeout", 20*time.Second, "disconnect a client that takes no screen update for this long")
	fs.IntVar(&cfg.FPS, "fps", 4, "frames per second per viewer at most")
	fs.IntVar(&cfg.Frames, "frames", 40, "frames per second for new data, all viewers together (-1: no budget)")
	fs.IntVar(&cfg.Slots, "slots", 1, "training steps at once (each step uses every thread)")
	fs.IntVar(&threads, "threads", 0, "CPU threads per step (default: all cores)")
	fs.IntVar(&lim.Runs, "max-runs", lim.Runs, "unfinished runs per person (0: no limit)")
	fs.IntVar(&lim.Params, "max-params", lim.Params, "parameters per run (0: no limit)")
	fs.IntVar(&lim.Context, "max-context", lim.Context, "context length per run (0: no limit)")
	fs.IntVar(&lim.Batch, "max-batch", lim.Batch, "batch per run (0: no limit)")
	fs.Int64Var(&diskMB, "max-disk-mb", diskMB, "MiB of sessions per person (0: no limit)")
	fs.BoolVar(&logJSON, "log-json", false, "log as JSON lines instead of key=value text")
	if err := parseFlags(fs, args, serveUsage, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q; flags only (see mealab serve --help)", fs.Arg(0))
	}
	if cfg.AuthorizedKeys == "" && !cfg.Open {
		return usagef("--authorized-keys FILE is needed (or --open to let anyone in as a guest); see mealab serve --help")
	}
	if _, err := presets.Load(cfg.Preset); err != nil {
		return usagef("--preset: %v", err)
	}
	if lim.Runs < 0 || lim.Params < 0 || lim.Context < 0 || lim.Batch < 0 || diskMB < 0 {
		return usagef("limits must be 0 (none) or positive")
	}
	if cfg.MaxConns < 1 {
		return usagef("--max-conns %d: must be at least 1", cfg.MaxConns)
	}
	if cfg.Frames == 0 || cfg.Frames < -1 {
		return usagef("--frames %d: a positive number of frames per second, or -1 for no budget", cfg.Frames)
	}
	if cfg.FPS < 1 || cfg.FPS > 30 {
		return usagef("--fps %d: choose between 1 and 30", cfg.FPS)
	}
	if cfg.IdleTimeout <= 0 || cfg.WriteTimeout <= 0 {
		return usagef("--idle-timeout and --write-timeout must be positive, e.g. 30m and 20s")
	}
	lim.DiskBytes = diskMB << 20
	cfg.Limits = lim
	cfg.Overrides = sets
	if cfg.DataFile != "" {
		cfg.Overrides = append(cfg.Overrides, presets.Setting{Key: "data", Value: cfg.DataFile})
	}
	cfg.Compute = setupCompute(threads)
	var h slog.Handler = slog.NewTextHandler(stderr, nil)
	if logJSON {
		h = slog.NewJSONHandler(stderr, nil)
	}
	cfg.Log = slog.New(h)
	srv, err := serve.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	fmt.Fprintf(stdout, "mealab serve: listening on %s (Ctrl-C stops and saves every lab)\n", cfg.Addr)
	select {
	case err = <-errc:
		_ = srv.Close()
		return err
	case <-ctx.Done():
	}
	cfg.Log.Info("shutting down", "why", "signal")
	return srv.Close()
}
