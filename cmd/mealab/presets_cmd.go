package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/mealab/mealab/presets"
)

const presetsUsage = `Usage:
  mealab presets                         list built-in and user presets, with where each comes from
  mealab presets show NAME|FILE          print one (a file that runs identically when read back)
  mealab presets show NAME|FILE --expand the runs it expands to, with a count (add --set k=v to see overrides)
  mealab presets new NAME                write a commented starting file into your presets directory

A preset is a text file of key = value lines: [defaults], then one [run NAME]
section per run; "grid KEY = v1, v2" makes one run per value. --preset takes a
path (anything with a / or ending in .preset), or a name looked up in
` + "$XDG_CONFIG_HOME/mealab/presets (~/.config/mealab/presets), then among the built-in ones." + `

--set key=value is a default for every run (a run's own value wins);
--set RUN.key=value changes one run; --preset none --set ... trains one run
of your own, named after its variant.
`

func cmdPresets(args []string, stdout io.Writer) error {
	sub := "list"
	if len(args) > 0 {
		sub, args = args[0], args[1:]
	}
	switch sub {
	case "list":
		if len(args) > 0 {
			return usagef("mealab presets list takes no arguments (got %q)", args[0])
		}
		return presetsList(stdout)
	case "show":
		return presetsShow(args, stdout)
	case "new":
		if len(args) != 1 || strings.HasPrefix(args[0], "-") {
			return usagef("usage: mealab presets new NAME (writes %s/NAME.preset)", presets.UserDir())
		}
		path, err := presets.WriteUser(args[0], []byte(presets.Starter(args[0])))
		if err != nil {
			return usageError{err.Error()}
		}
		fmt.Fprintf(stdout, "wrote %s\nedit it, check it with  mealab presets show %s --expand  and run it with  mealab train --preset %s\n", path, args[0], args[0])
		return nil
	case "-h", "--help", "-help", "help":
		fmt.Fprint(stdout, presetsUsage)
		fmt.Fprintln(stdout, "\nKeys a preset (or --set key=value) may set:")
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		for _, k := range presets.Keys {
			fmt.Fprintf(tw, "  %s\t%s\n", k.Key, k.Help)
		}
		fmt.Fprintf(tw, "  grid KEY\tone run per value: grid lr = 1e-3, 3e-3 (in [defaults] or a run)\n")
		tw.Flush()
		return nil
	}
	return usagef("unknown presets command %q; use list, show NAME, new NAME (mealab presets --help)", sub)
}

func presetsList(stdout io.Writer) error {
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "preset\truns\tsource\tdescription")
	for _, e := range presets.List() {
		name := e.Name
		if e.Name == presets.Default && e.Origin == "built-in" {
			name += " (default)"
		}
		src := e.Origin
		switch {
		case e.Shadows:
			src += " (shadows the built-in)"
		case e.Shadowed:
			src += " (shadowed by your file)"
		}
		if e.Err != nil {
			fmt.Fprintf(tw, "%s\t-\t%s\tdoes not parse: %s\n", name, src, oneLine(e.Err.Error()))
			continue
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", name, e.Runs, src, e.Description)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "\nyour presets live in %s (mealab presets new NAME writes one).\n", presets.UserDir())
	fmt.Fprintln(stdout, "mealab presets show NAME prints one; --expand lists its runs; mealab train --preset NAME|FILE runs it.")
	return nil
}

func presetsShow(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("presets show", flag.ContinueOnError)
	var sets setFlags
	fs.Var(&sets, "set", "override, `key=value` or RUN.key=value (with --expand)")
	expand := fs.Bool("expand", false, "list the runs the preset expands to, with a count")
	data := fs.String("data", "", "with --expand: the text `FILE` a preset that needs data trains on")
	maxRuns := fs.Int("max-runs", presets.DefaultMaxRuns, "refuse expansions over `N` runs")
	var pos []string
	for {
		if err := parseFlags(fs, args, presetsUsage, stdout); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 {
		return usagef("usage: mealab presets show NAME|FILE [--expand]; `mealab presets` lists the names")
	}
	if !*expand && (len(sets) > 0 || *data != "") {
		return usagef("--set and --data change what --expand lists; add --expand")
	}
	p, note, err := presets.Resolve(pos[0])
	if err != nil {
		return usageError{err.Error()}
	}
	if !*expand {
		if note != "" {
			fmt.Fprintf(stdout, "# %s\n", note)
		}
		fmt.Fprint(stdout, p.Source)
		return nil
	}
	rf := runFlags{preset: pos[0], sets: sets, data: *data, maxRuns: *maxRuns}
	p, specs, err := rf.resolve()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "preset %s from %s: %d runs\n", p.Name, p.Origin, len(specs))
	for _, s := range specs {
		fmt.Fprintf(stdout, "  %-20s %s\n", s.Name, effectiveConfig(s))
	}
	for _, n := range rf.notes {
		fmt.Fprintf(stdout, "warning: %s\n", n)
	}
	return nil
}
