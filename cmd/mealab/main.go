// Command mealab is a terminal training lab for small language models that
// compares standard multi-head attention with Multi-head Explicit Attention.
//
//	mealab                      open the lab (TUI) on the default preset
//	mealab train [flags]        run a preset headless, one log line per interval
//	mealab presets [show P]     list presets, or print one
//	mealab bench [flags]        measure training and decoding speed
//	mealab sessions ...         list, show, remove and export saved sessions
//	mealab sample SESSION RUN   generate text with a saved run's checkpoint
//	mealab eval SESSION RUN     loss, bits per character and perplexity of a saved run
//	mealab doctor               which build, CPU kernel and devices this is
//	mealab serve [flags]        the classroom SSH server (one lab per person)
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// usageError is a mistake on the command line: exit code 2 and a hint.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

const topUsage = `mealab: a terminal lab that trains small language models and compares
standard attention (MHA) with Multi-head Explicit Attention (MEA).

Usage:
  mealab [--preset P] [--session NAME]   open the lab (the default preset needs no files)
  mealab train [flags]                   run a preset headless (mealab train --help)
  mealab presets [show NAME]             list the presets, or print one
  mealab bench [flags]                   training and decoding speed (mealab bench --help)
  mealab sessions [list|show|rm|export]  saved sessions (mealab sessions --help)
  mealab sample SESSION RUN [flags]      generate text with a saved run (mealab sample --help)
  mealab eval SESSION RUN [--data FILE]  loss, bits per character, perplexity of a saved run
  mealab sweep PRESET --session S [--slurm]  a preset's grid here or as a Slurm array job
  mealab doctor                          build, CPU kernel, threads and devices
  mealab serve --authorized-keys FILE    the classroom: everyone's own lab over SSH (mealab serve --help)
  mealab help [COMMAND]                  this text, or a command's help

Flags go after the command (mealab sessions show demo --dir D, or
mealab sessions --dir D show demo). Exit codes: 0 done, 2 a usage error (an
unknown command, flag or name, a value out of range, something this build
cannot do), 1 anything else that failed (a broken file, a full disk).
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a command line and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	err := dispatch(args, stdout, stderr)
	if err == nil {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "mealab: %s\n", ue.msg)
		return 2
	}
	if errors.Is(err, errHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "mealab: %v\n", err)
	return 1
}

var errHelp = errors.New("help shown")

func dispatch(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		for _, a := range args {
			if a == "-h" || a == "--help" || a == "-help" {
				fmt.Fprint(stdout, topUsage)
				fmt.Fprintln(stdout)
				return cmdLab([]string{"--help"}, stdout, stderr)
			}
		}
		return cmdLab(args, stdout, stderr)
	}
	switch args[0] {
	case "train":
		return cmdTrain(args[1:], stdout, stderr)
	case "presets", "preset":
		return cmdPresets(args[1:], stdout)
	case "bench":
		return cmdBench(args[1:], stdout, stderr)
	case "sessions", "session":
		return cmdSessions(args[1:], stdout, stderr)
	case "sweep":
		return cmdSweep(args[1:], stdout, stderr)
	case "sample":
		return cmdSample(args[1:], stdout, stderr)
	case "eval":
		return cmdEval(args[1:], stdout, stderr)
	case "doctor":
		if len(args) > 1 {
			if isHelp(args[1]) {
				fmt.Fprintln(stdout, "Usage: mealab doctor\n\nSays which build this is, which CPU kernel runs, with how many threads, and which GPUs it sees.")
				return nil
			}
			return usagef("mealab doctor takes no arguments, got %q", args[1])
		}
		return cmdDoctor(stdout)
	case "serve":
		return cmdServe(args[1:], stdout, stderr)
	case "help":
		switch {
		case len(args) == 1:
			fmt.Fprint(stdout, topUsage)
			return nil
		case len(args) == 2 && isCommand(args[1]) && args[1] != "help":
			return dispatch([]string{args[1], "--help"}, stdout, stderr)
		}
		return usagef("usage: mealab help [COMMAND]; commands: %s", strings.Join(commands, ", "))
	case "version":
		if len(args) > 1 && isHelp(args[1]) {
			fmt.Fprintln(stdout, "Usage: mealab version\n\nPrints the version.")
			return nil
		}
		if len(args) > 1 {
			return usagef("mealab version takes no arguments, got %q", args[1])
		}
		fmt.Fprintln(stdout, "mealab", version)
		return nil
	}
	return usagef("unknown command %q; try `mealab help` (commands: %s)", args[0], strings.Join(commands, ", "))
}

// commands are the words dispatch knows.
var commands = []string{"train", "presets", "bench", "sessions", "sample", "eval", "doctor", "sweep", "serve", "help", "version"}

func isHelp(s string) bool { return s == "-h" || s == "-help" || s == "--help" }

func isCommand(s string) bool {
	for _, c := range append(commands, "preset", "session") {
		if s == c {
			return true
		}
	}
	return false
}

const version = "0.1.0"

// parseFlags parses args quietly: -h prints usage and the flag list, a bad
// flag gives one line that says where to look, never the whole usage.
func parseFlags(fs *flag.FlagSet, args []string, usage string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if err == flag.ErrHelp {
		fmt.Fprint(stdout, usage)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return errHelp
	}
	if err != nil {
		name := "mealab " + fs.Name()
		if fs.Name() == "mealab" {
			name = "mealab"
		}
		return usagef("%v (see %s --help)", err, name)
	}
	return nil
}
