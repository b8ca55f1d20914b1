package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/mealab/mealab/presets"
	"github.com/mealab/mealab/trainer"
	"github.com/mealab/mealab/tui"
)

const labUsage = `Usage: mealab [--preset P] [--set key=value ...] [--data FILE] [--session NAME] [--fps N]

Opens the lab: the preset's runs train side by side while you watch the loss
curves, compare MHA with MEA, operate on heads and watch the KV cache shrink.
Press ? inside for every key.

Examples:
  mealab                                 the default preset (MHA vs MEA)
  mealab --preset quick                  a demo that finishes in seconds
  mealab --preset kv-compress            halve the KV heads mid-run
  NO_COLOR=1 mealab --preset quick       for projectors and plain terminals

Flags:
`

// labSession is what a recorded session adds to the lab: a sink that sees
// every update, a way to tell it which spec each run has, a Saver for the
// UI's save key, and the work to do when the lab ends.
type labSession struct {
	Sink   func(trainer.Update)
	Bind   func(trainer.RunID, trainer.RunSpec)
	Saver  tui.Saver
	Finish func(*trainer.Lab)
	Close  func() error
}

// sessionHook opens the session --session names (nil, nil when there is
// none). Sessions are wired here: replace this function, or what
// openRecorder returns, and the lab records, and w in the UI saves.
var sessionHook = func(name, dir, preset string, specs []trainer.RunSpec) (*labSession, error) {
	if name == "" {
		return nil, nil
	}
	rec, err := openRecorder(name, dir, preset, specs)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, nil
	}
	s := &labSession{Sink: rec.Record, Bind: rec.Bind, Finish: rec.Finish, Close: rec.Close}
	if sv, ok := any(rec).(tui.Saver); ok {
		s.Saver = sv
	}
	return s, nil
}

func cmdLab(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mealab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rf runFlags
	rf.register(fs)
	fps := fs.Int("fps", 10, "redraws per second (data is taken in at once; only drawing waits)")
	fs.Usage = func() { fmt.Fprint(stderr, labUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return errHelp
		}
		return usagef("%v (see mealab --help)", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q; flags only, e.g. mealab --preset quick", fs.Arg(0))
	}
	if *fps < 1 || *fps > 60 {
		return usagef("--fps %d: choose between 1 and 60", *fps)
	}
	p, specs, err := rf.specs()
	if err != nil {
		return err
	}
	if !isTerminal(stdout) {
		return usagef("the lab needs a terminal; for logs or CI use `mealab train --preset %s`", p.Name)
	}
	compute := setupCompute(rf.threads)
	sess, err := sessionHook(rf.session, rf.dir, p.Name, specs)
	if err != nil {
		return err
	}
	opts := trainer.Options{Compute: compute}
	if sess != nil && sess.Sink != nil {
		opts.Sink = sess.Sink
	}
	lab := trainer.NewLab(opts)
	defer func() {
		lab.Close()
		if sess != nil {
			if sess.Finish != nil {
				sess.Finish(lab)
			}
			if sess.Close != nil {
				_ = sess.Close()
			}
		}
	}()
	for _, s := range specs {
		id, err := lab.Add(s)
		if err != nil {
			return fmt.Errorf("run %s: %w", s.Name, err)
		}
		if sess != nil && sess.Bind != nil {
			sess.Bind(id, s)
		}
	}
	over := append([]presets.Setting(nil), rf.sets...)
	if rf.data != "" {
		over = append(over, presets.Setting{Key: "data", Value: rf.data})
	}
	uo := tui.Options{
		FPS:       *fps,
		Title:     p.Name,
		Overrides: over,
		NoColor:   os.Getenv("NO_COLOR") != "",
		SaveHint:  "start mealab with --session NAME to record one",
	}
	if sess != nil {
		uo.Saver = sess.Saver
	}
	return tui.Run(lab, uo)
}
