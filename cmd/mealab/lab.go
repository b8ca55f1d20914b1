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

// labSaver saves a session from the UI's save key.
type labSaver struct {
	sc  *sessionCtx
	lab *trainer.Lab
}

func (s labSaver) Save() error { return s.sc.Save(s.lab) }

func cmdLab(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mealab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rf runFlags
	rf.register(fs)
	fps := fs.Int("fps", 10, "redraws per second (data is taken in at once; only drawing waits)")
	ckEvery := fs.Int("checkpoint-every", 0, "with --session: steps between checkpoints (default 50)")
	follow := fs.Bool("follow", false, "with --session: watch a session other processes write (a sweep), read-only")
	if err := parseFlags(fs, args, labUsage, stdout); err != nil {
		return err
	}
	if *follow {
		return followLab(fs, rf, *fps, stdout, stderr)
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
	sc, err := openSession(rf.session, rf.dir, p.Name, *ckEvery)
	if err != nil {
		return err
	}
	opts := trainer.Options{Compute: compute}
	sc.options(&opts)
	lab := trainer.NewLab(opts)
	defer func() {
		if sc != nil {
			if err := sc.Save(lab); err != nil {
				fmt.Fprintf(stderr, "mealab: saving session %s: %v\n", sc.Name(), err)
			}
		}
		lab.Close()
		_ = sc.Close()
	}()
	warnings, err := sc.start(lab, specs, false)
	if err != nil {
		return err
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
	if sc != nil {
		uo.Saver = labSaver{sc, lab}
		if sc.existed {
			uo.Title = sc.preset + " · session " + sc.Name()
		}
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "mealab: warning: %s\n", w)
	}
	return tui.Run(lab, uo)
}
