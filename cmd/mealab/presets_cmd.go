package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/mealab/mealab/presets"
)

func cmdPresets(args []string, stdout io.Writer) error {
	switch {
	case len(args) == 0 || args[0] == "list":
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		for _, n := range presets.Names() {
			p, err := presets.Load(n)
			if err != nil {
				return err
			}
			def := ""
			if n == presets.Default {
				def = " (default)"
			}
			fmt.Fprintf(tw, "%s%s\t%d runs\t%s\n", n, def, len(p.Runs)*max(1, len(p.Ladder)), p.Description)
		}
		tw.Flush()
		fmt.Fprintln(stdout, "\nmealab presets show NAME prints one; mealab train --preset NAME runs it.")
		return nil
	case args[0] == "show" && len(args) == 2:
		p, err := presets.Load(args[1])
		if err != nil {
			return usageError{err.Error()}
		}
		fmt.Fprint(stdout, p.Source)
		return nil
	case args[0] == "-h" || args[0] == "--help" || args[0] == "help":
		fmt.Fprintln(stdout, "Usage: mealab presets          list the presets\n       mealab presets show NAME print one (the file the lab embeds)")
		fmt.Fprintln(stdout, "\nKeys a preset (or --set key=value) may set:")
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		for _, k := range presets.Keys {
			fmt.Fprintf(tw, "  %s\t%s\n", k.Key, k.Help)
		}
		tw.Flush()
		return nil
	}
	return usagef("usage: mealab presets [show NAME]; `mealab presets` lists the names")
}
