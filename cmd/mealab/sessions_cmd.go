package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mealab/mealab/model"
	"github.com/mealab/mealab/record"
	"github.com/mealab/mealab/sessions"
)

const sessionsUsage = `Usage:
  mealab sessions [list]                       sessions with size, runs, last activity
  mealab sessions show NAME                    the runs of a session and their state
  mealab sessions show NAME --follow           ... and new runs and points as others write them
  mealab sessions show NAME --preset           its runs as a preset file (train --preset FILE reruns them)
  mealab sessions rm NAME [--yes]              delete a session (asks first; --yes does not)
  mealab sessions export NAME --csv DIR        metrics per run as CSV files
  mealab sessions export NAME --png FILE       loss curves of all runs (legend, event markers)
  mealab sessions export NAME --png FILE --grid
                                               every metric, one panel each (loss, val, grad
                                               norm, max logit, LR, tok/s, recall)
  mealab sessions export NAME --checkpoint RUN FILE
                                               the run's latest weights as safetensors
All take --dir DIR (default $XDG_DATA_HOME/mealab/sessions); flags may go
before or after NAME. Reopen a session with mealab --session NAME (the lab) or
mealab train --session NAME [--steps N]; use a run with mealab sample or
mealab eval SESSION RUN.

Flags:
`

// stdin is where `sessions rm` reads its confirmation; tests replace it.
var stdin io.Reader = os.Stdin

// sessionFlags are the flags each sessions command takes (--dir: all).
var sessionFlags = map[string][]string{
	"list": {"dir"}, "ls": {"dir"}, "show": {"dir", "follow", "preset"}, "rm": {"dir", "yes"}, "remove": {"dir", "yes"},
	"export": {"dir", "csv", "png", "grid", "checkpoint"},
}

// interleaved parses flags that may come before, between or after the
// positional arguments, and returns the positional ones in order.
func interleaved(fs *flag.FlagSet, args []string, usage string, stdout io.Writer) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		if err := parseFlags(fs, args, usage, stdout); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	return pos, nil
}

// loadSession loads a session named on the command line: an invalid or
// unknown name is a usage error (exit 2), a broken session is not.
func loadSession(store *sessions.Store, name string) (*sessions.Session, error) {
	if err := sessions.ValidateName(name); err != nil {
		return nil, usagef("%v", err)
	}
	sess, err := store.Load(name)
	if errors.Is(err, sessions.ErrNotFound) {
		return nil, usagef("no session %q in %s; mealab sessions --dir %s lists them", name, store.Dir(), store.Dir())
	}
	return sess, err
}

func cmdSessions(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sessions", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "sessions `DIR` (default $XDG_DATA_HOME/mealab/sessions)")
	yes := fs.Bool("yes", false, "rm: delete without asking")
	csvDir := fs.String("csv", "", "export: write CSV files into `DIR`")
	png := fs.String("png", "", "export: draw loss curves into `FILE`")
	grid := fs.Bool("grid", false, "export: with --png, draw every metric, one panel each")
	ckpt := fs.Bool("checkpoint", false, "export: write RUN's latest weights to FILE (export NAME --checkpoint RUN FILE)")
	follow := fs.Bool("follow", false, "show: keep showing new runs and points as other processes write them")
	asPreset := fs.Bool("preset", false, "show: print the session's runs as a preset file (sessions_preset.go)")
	// Flags may come before or after the command and its arguments.
	pos, err := interleaved(fs, args, sessionsUsage, stdout)
	if err != nil {
		return err
	}
	sub := "list"
	if len(pos) > 0 {
		sub, pos = pos[0], pos[1:]
	}
	allowed, ok := sessionFlags[sub]
	if !ok {
		return usagef("unknown sessions command %q; use list, show, rm or export (mealab sessions --help)", sub)
	}
	for name := range givenFlags(fs) {
		if !slices.Contains(allowed, name) {
			return usagef("--%s does not apply to mealab sessions %s (it takes %s)", name, sub, "--"+strings.Join(allowed, ", --"))
		}
	}
	if *dir == "" {
		*dir = sessions.DefaultDir()
	}
	store, err := sessions.Open(*dir)
	if err != nil {
		return err
	}
	need := func(n int, what string) error {
		if len(pos) != n {
			return usagef("usage: mealab sessions %s", what)
		}
		return nil
	}
	switch sub {
	case "list", "ls":
		if err := need(0, "list [--dir DIR]"); err != nil {
			return err
		}
		infos, err := store.List()
		if err != nil {
			return err
		}
		if len(infos) == 0 {
			fmt.Fprintf(stdout, "no sessions in %s; start one with mealab --session NAME\n", store.Dir())
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "session\truns\tsize\tlast activity\t")
		for _, in := range infos {
			if in.Err != nil {
				fmt.Fprintf(tw, "%s\t-\t%s\t%s\tbroken: %v\n", in.Name, fmtBytes(in.Bytes), ago(in.LastActivity), in.Err)
				continue
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t\n", in.Name, in.Runs, fmtBytes(in.Bytes), ago(in.LastActivity))
		}
		return tw.Flush()
	case "show":
		if err := need(1, "show NAME"); err != nil {
			return err
		}
		sess, err := loadSession(store, pos[0])
		if err != nil {
			return err
		}
		if *follow && *asPreset {
			return usagef("--follow and --preset do not go together; use one")
		}
		if *follow {
			return showFollow(context.Background(), sess, time.Second, stdout)
		}
		var meta record.SessionMeta
		_ = sess.Meta(&meta)
		if *asPreset {
			return printSessionPreset(stdout, sess, meta.Preset) // sessions_preset.go
		}
		fmt.Fprintf(stdout, "session %s (preset %s), created %s, in %s\n", sess.Name(), meta.Preset, sess.Created().Format(time.DateTime), sess.Dir())
		runs, err := record.Load(sess)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "run\tvariant\tstep\ttrain loss\tbest val\tstate\tcheckpoint\tevents\t")
		for _, ld := range runs {
			step, loss, best, state, ck := "-", "-", "-", ld.Meta.State, "none"
			if n := len(ld.History.Points); n > 0 {
				step, loss = strconv.Itoa(ld.History.Points[n-1].Step), fmtLoss(ld.History.Points[n-1].Loss)
			}
			b := math.NaN()
			for _, e := range ld.History.Evals {
				if math.IsNaN(b) || e.ValLoss < b {
					b = e.ValLoss
				}
			}
			best = fmtLoss(b)
			if ld.State != nil {
				ck = "step " + strconv.Itoa(ld.State.Step)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", ld.Meta.Name, ld.Meta.Config.Model.Variant(), step, loss, best, state, ck, len(ld.History.Events))
		}
		tw.Flush()
		for _, ld := range runs {
			for _, w := range ld.Warnings {
				fmt.Fprintf(stdout, "warning: %s\n", w)
			}
		}
		return nil
	case "rm", "remove":
		if err := need(1, "rm NAME [--yes]"); err != nil {
			return err
		}
		if _, err := loadSession(store, pos[0]); err != nil {
			return err
		}
		if !*yes {
			fmt.Fprintf(stdout, "delete session %s and all its checkpoints? [y/N] ", pos[0])
			line, _ := bufio.NewReader(stdin).ReadString('\n')
			if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
				fmt.Fprintln(stdout, "kept")
				return nil
			}
		}
		if err := store.Remove(pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed %s\n", pos[0])
		return nil
	case "export":
		if len(pos) < 1 {
			return usagef("usage: mealab sessions export NAME (--csv DIR | --png FILE | --checkpoint RUN FILE)")
		}
		if !*ckpt && len(pos) > 1 {
			return usagef("unexpected argument %q: only --checkpoint takes RUN FILE (mealab sessions export NAME --checkpoint RUN FILE)", pos[1])
		}
		if *ckpt && len(pos) != 3 {
			return usagef("usage: mealab sessions export NAME --checkpoint RUN FILE")
		}
		sess, err := loadSession(store, pos[0])
		if err != nil {
			return err
		}
		runs, err := record.Load(sess)
		if err != nil {
			return err
		}
		did := false
		if *csvDir != "" {
			did = true
			if err := exportCSV(*csvDir, runs, stdout); err != nil {
				return err
			}
		}
		if *grid && *png == "" {
			return usagef("--grid draws the --png file as a grid of metrics; add --png FILE")
		}
		if *png != "" {
			did = true
			draw := exportPNG
			if *grid {
				draw = exportGridPNG
			}
			if err := draw(*png, sess.Name(), runs); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %s\n", *png)
		}
		if *ckpt {
			did = true
			if err := exportCheckpoint(runs, pos[1], pos[2]); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %s\n", pos[2])
		}
		if !did {
			return usagef("export needs --csv DIR, --png FILE or --checkpoint RUN FILE")
		}
		return nil
	}
	return usagef("unknown sessions command %q; use list, show, rm or export (mealab sessions --help)", sub)
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := time.Since(t).Round(time.Second)
	switch {
	case d < time.Minute:
		return d.String() + " ago"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return t.Format(time.DateOnly)
}

func num(f float64) string {
	if math.IsNaN(f) {
		return ""
	}
	return strconv.FormatFloat(f, 'g', 8, 64)
}

func exportCSV(dir string, runs []record.Loaded, stdout io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	for _, ld := range runs {
		vals := map[int][2]float64{}
		for _, e := range ld.History.Evals {
			vals[e.Step] = [2]float64{e.ValLoss, e.Recall}
		}
		var rows [][]string
		for _, p := range ld.History.Points {
			v, ok := vals[p.Step]
			if !ok {
				v = [2]float64{math.NaN(), math.NaN()}
			}
			rows = append(rows, []string{strconv.Itoa(p.Step), strconv.FormatInt(p.Tokens, 10), num(p.Wall), num(p.Loss), num(v[0]), num(v[1]),
				num(p.LR), num(p.GradNorm), num(p.MaxLogit), num(p.TokPerSec), ld.Meta.Config.Group, replicaCol(ld.Meta.Config.Replica)})
		}
		path := filepath.Join(dir, safeFile(ld.Meta.Name)+".csv")
		if err := sessions.ExportCSV(path, []string{"step", "tokens", "wall_s", "loss", "val_loss", "recall", "lr", "grad_norm", "max_logit", "tok_per_sec", "group", "replica"}, rows); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s (%d rows)\n", path, len(rows))
	}
	return exportGroupsCSV(dir, runs, stdout) // export_groups.go
}

// replicaCol is a run's replica index for CSV ("" when not a replica).
func replicaCol(i int) string {
	if i == 0 {
		return ""
	}
	return strconv.Itoa(i)
}

func safeFile(name string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == 0 {
			return '_'
		}
		return r
	}, name)
}

func exportPNG(path, title string, runs []record.Loaded) error {
	marks := chartMarkers(runs, false)
	// Seeded groups are drawn as bands (export_groups.go), the rest as runs.
	series, rest := groupSeries(runs)
	off := len(series)
	for ri, ld := range rest {
		ri += off
		var x, y []float64
		for _, p := range ld.History.Points {
			x, y = append(x, float64(p.Step)), append(y, p.Loss)
		}
		series = append(series, sessions.Series{Name: ld.Meta.Name + " train", X: x, Y: y, Colour: ri + 1})
		x, y = nil, nil
		for _, e := range ld.History.Evals {
			x, y = append(x, float64(e.Step)), append(y, e.ValLoss)
		}
		if len(x) > 0 {
			series = append(series, sessions.Series{Name: ld.Meta.Name + " val", X: x, Y: y, Dashed: true, Colour: ri + 1})
		}
	}
	return sessions.ExportPNG(path, "mealab session "+title, series, marks)
}

func exportCheckpoint(runs []record.Loaded, run, path string) error {
	var names []string
	for _, ld := range runs {
		names = append(names, ld.Meta.Name)
		if ld.Meta.Name != run {
			continue
		}
		if ld.State == nil {
			return fmt.Errorf("run %s has no readable checkpoint", run)
		}
		tensors, meta, err := record.Encode(*ld.State)
		if err != nil {
			return err
		}
		// Only the model: a PyTorch user loads weights, not AdamW moments.
		// The fused projections are split into Meta Llama's names (wq, wk,
		// wv; w1, w3) so that Llama-style loading code finds them.
		var model []sessions.Tensor
		for _, t := range tensors {
			if strings.HasPrefix(t.Name, "optimizer.") {
				continue
			}
			parts, err := splitFused(t, ld.State.Spec.Model)
			if err != nil {
				return err
			}
			model = append(model, parts...)
		}
		b, err := sessions.EncodeSafetensors(model, map[string]string{"model_config": meta["model_config"], "run_spec": meta["run_spec"]})
		if err != nil {
			return err
		}
		return sessions.WriteFileAtomic(path, b, 0o644)
	}
	return usagef("no run %q in this session; runs: %s", run, strings.Join(names, ", "))
}

// splitFused splits layers.N.attention.wqkv.weight into wq, wk and wv, and
// layers.N.feed_forward.w13.weight into w1 (gate) and w3 (up); other
// tensors pass through.
func splitFused(t sessions.Tensor, c model.Config) ([]sessions.Tensor, error) {
	var layer int
	var rows []int
	var names []string
	switch {
	case strings.HasSuffix(t.Name, ".attention.wqkv.weight"):
		if _, err := fmt.Sscanf(t.Name, "layers.%d.", &layer); err != nil {
			return nil, fmt.Errorf("tensor %s: %w", t.Name, err)
		}
		d, g := c.HeadDim(), c.KV(layer)
		rows = []int{c.Heads * d, g * d, g * d}
		names = []string{"wq", "wk", "wv"}
	case strings.HasSuffix(t.Name, ".feed_forward.w13.weight"):
		rows = []int{c.MLP, c.MLP}
		names = []string{"w1", "w3"}
	default:
		return []sessions.Tensor{t}, nil
	}
	v, err := t.Float32s()
	if err != nil {
		return nil, err
	}
	cols := t.Shape[1]
	prefix := t.Name[:strings.LastIndex(strings.TrimSuffix(t.Name, ".weight"), ".")+1]
	var out []sessions.Tensor
	off := 0
	for i, r := range rows {
		out = append(out, sessions.F32Tensor(prefix+names[i]+".weight", []int{r, cols}, v[off*cols:(off+r)*cols]))
		off += r
	}
	if off != t.Shape[0] {
		return nil, fmt.Errorf("tensor %s has %d rows, its config says %d", t.Name, t.Shape[0], off)
	}
	return out, nil
}
