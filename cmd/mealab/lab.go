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

const labUsage = `Usage: mealab [--preset P] [--set key=value ...] [--data FILE] [--session NAME [--steps N]] [--fps N]

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
	fps := fs.Int("fps", 10, "redraws per second, `N` from 1 to 60 (data is taken in at once; only drawing waits)")
	ckEvery := fs.Int("checkpoint-every", 0, "with --session: `N` steps between checkpoints (default 50)")
	follow := fs.Bool("follow", false, "with --session: watch a session other processes write (a sweep), read-only")
	if err := parseFlags(fs, args, labUsage, stdout); err != nil {
		return err
	}
	if *follow {
		return followLab(fs, rf, *fps, stdout, stderr)
	}
	if fs.NArg() > 0 {
		if isCommand(fs.Arg(0)) {
			return usagef("put the command first and its flags after it: mealab %s [flags] (%q came after a flag)", fs.Arg(0), fs.Arg(0))
		}
		return usagef("unexpected argument %q; flags only, e.g. mealab --preset quick", fs.Arg(0))
	}
	if *fps < 1 || *fps > 60 {
		return usagef("--fps %d: choose between 1 and 60", *fps)
	}
	if err := rf.check(fs); err != nil {
		return err
	}
	if rf.given["checkpoint-every"] {
		if rf.session == "" {
			return usagef("--checkpoint-every applies only with --session NAME")
		}
		if *ckEvery <= 0 {
			return usagef("--checkpoint-every %d: give a positive number of steps", *ckEvery)
		}
	}
	sc, err := findSession(rf.session, rf.dir, *ckEvery)
	if err != nil {
		return err
	}
	reopen := sc != nil && sc.existed
	var p *presets.Preset
	var specs []trainer.RunSpec
	if reopen {
		if err := sc.reopenConflicts(&rf); err != nil {
			return err
		}
	} else if p, specs, err = rf.specs(); err != nil {
		return err
	}
	printNotes(stderr, rf.notes)
	if !isTerminal(stdout) {
		return usagef("the lab needs a terminal; for logs or CI use `mealab train` with the same flags")
	}
	compute := setupCompute(rf.threads)
	if !reopen {
		if err := sc.create(p.Name); err != nil {
			return err
		}
	}
	opts := trainer.Options{Compute: compute}
	sc.options(&opts)
	lab := trainer.NewLab(opts)
	defer func() {
		// Stop stepping, then save: checkpoints at the steps the logs end with.
		lab.Close()
		if sc != nil {
			if err := sc.Save(lab); err != nil {
				fmt.Fprintf(stderr, "mealab: saving session %s: %v\n", sc.Name(), err)
			}
		}
		_ = sc.Close()
	}()
	steps := 0
	if reopen {
		steps = rf.steps
	}
	var notes []string
	warnings, err := sc.start(lab, specs, false, steps, func(n string) { notes = append(notes, n) })
	if err != nil {
		return err
	}
	title := sc.presetName()
	if p != nil {
		title = p.Name
	}
	over := append([]presets.Setting(nil), rf.sets...)
	if rf.data != "" {
		over = append(over, presets.Setting{Key: "data", Value: rf.data})
	}
	uo := tui.Options{
		FPS:       *fps,
		Title:     title,
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
	for _, n := range notes {
		fmt.Fprintf(stderr, "mealab: %s\n", n)
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "mealab: warning: %s\n", w)
	}
	return tui.Run(lab, uo)
}
