package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/mealab/mealab/presets"
	"github.com/mealab/mealab/trainer"
	"golang.org/x/term"
)

// setFlags collects repeated --set key=value flags.
type setFlags []presets.Setting

func (s *setFlags) String() string { return "" }
func (s *setFlags) Set(v string) error {
	st, err := presets.ParseSet(v)
	if err != nil {
		return err
	}
	*s = append(*s, st)
	return nil
}

// common flags of train and the lab.
type runFlags struct {
	preset  string
	sets    setFlags
	data    string
	steps   int
	threads int
	session string
	dir     string
	device  string
}

func (f *runFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.preset, "preset", presets.Default, "experiment to run (`mealab presets` lists them)")
	fs.Var(&f.sets, "set", "override a preset value, `key=value` (repeatable), e.g. --set lr=3e-3 --set heads=8")
	fs.StringVar(&f.data, "data", "", "train on a text `FILE` instead of the built-in data")
	fs.IntVar(&f.steps, "steps", 0, "override the number of steps of every run")
	fs.IntVar(&f.threads, "threads", 0, "CPU threads (default: all cores)")
	fs.StringVar(&f.session, "session", "", "record into (or reopen) the session `NAME`")
	fs.StringVar(&f.dir, "dir", "", "sessions directory (default $XDG_DATA_HOME/mealab/sessions)")
	fs.StringVar(&f.device, "device", "", "train every run on `cpu` or cuda (the same as --set device=...)")
}

// specs loads the preset and applies the flags.
func (f *runFlags) specs() (*presets.Preset, []trainer.RunSpec, error) {
	p, err := presets.Load(f.preset)
	if err != nil {
		return nil, nil, usageError{err.Error()}
	}
	over := append([]presets.Setting(nil), f.sets...)
	if f.data != "" {
		over = append(over, presets.Setting{Key: "data", Value: f.data})
	}
	if f.steps > 0 {
		over = append(over, presets.Setting{Key: "steps", Value: fmt.Sprint(f.steps)})
	}
	if f.device != "" {
		st, err := presets.ParseSet("device=" + f.device)
		if err != nil {
			return nil, nil, usagef("--device %s: use cpu or cuda", f.device)
		}
		over = append(over, st)
	}
	if p.NeedsData && f.data == "" && !hasSet(f.sets, "data") {
		return nil, nil, usagef("preset %s trains on a text file: add --data FILE (for example --data ../shared/data/tinyshakespeare.txt)", p.Name)
	}
	specs, err := p.Expand(over)
	if err != nil {
		return nil, nil, usageError{err.Error()}
	}
	return p, specs, nil
}

func hasSet(s setFlags, key string) bool {
	for _, x := range s {
		if x.Key == key {
			return true
		}
	}
	return false
}

const trainUsage = `Usage: mealab train [--preset P] [--set key=value ...] [--data FILE] [--steps N] [--json]

Runs every run of a preset side by side in lock-step (same batches, same order),
printing one line per log interval and a final table. Ctrl-C stops cleanly and
prints the table so far.

Examples:
  mealab train                                   the default preset (MHA vs MEA)
  mealab train --preset quick
  mealab train --preset lr-sweep                 largest stable LR per variant
  mealab train --preset shakespeare --data ../shared/data/tinyshakespeare.txt
  mealab train --set variant=mea --set kv=2 --set layers=4 --set width=128 --set heads=4 \
               --set context=128 --set batch=16 --steps 200

Flags:
`

func cmdTrain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rf runFlags
	rf.register(fs)
	jsonOut := fs.Bool("json", false, "print JSON lines instead of text")
	every := fs.Int("every", 0, "log interval in steps (default: steps/30)")
	quiet := fs.Bool("quiet", false, "only the final table")
	ckEvery := fs.Int("checkpoint-every", 0, "with --session: steps between checkpoints (default 50)")
	if err := parseFlags(fs, args, trainUsage, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q; flags only, e.g. mealab train --preset quick", fs.Arg(0))
	}
	p, specs, err := rf.specs()
	if err != nil {
		return err
	}
	compute := setupCompute(rf.threads)
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()

	sc, err := openSession(rf.session, rf.dir, p.Name, *ckEvery)
	if err != nil {
		return err
	}
	defer sc.Close()
	opts := trainer.Options{Compute: compute}
	sc.options(&opts)
	lab := trainer.NewLab(opts)
	defer lab.Close()

	maxSteps := 0
	for _, s := range specs {
		maxSteps = max(maxSteps, s.Sched.Total)
	}
	if *every <= 0 {
		*every = max(1, maxSteps/30)
	}
	enc := json.NewEncoder(stdout)
	if sc != nil && sc.existed {
		specs = nil // the session's own runs continue
	}
	if !*jsonOut {
		if sc != nil && sc.existed {
			fmt.Fprintf(stdout, "mealab train: reopening session %s, %s\n", sc.Name(), computeLabel())
		} else {
			fmt.Fprintf(stdout, "mealab train: preset %s (%s), %d runs, %s\n", p.Name, p.Description, len(specs), computeLabel())
			for _, s := range specs {
				fmt.Fprintf(stdout, "  %-14s %s\n", s.Name, effectiveConfig(s))
			}
		}
		if sc != nil {
			fmt.Fprintf(stdout, "  recording into session %s (checkpoint every %d steps)\n", sc.Name(), sc.every)
		}
	} else {
		_ = enc.Encode(map[string]any{"type": "start", "preset": p.Name, "runs": specs, "compute": computeLabel()})
	}
	warnings, err := sc.start(lab, specs, false)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "mealab: warning: %s\n", w)
	}
	names := map[trainer.RunID]string{}
	for _, r := range lab.Runs() {
		names[r.ID] = r.Name
	}
	tty := !*jsonOut && isTerminal(stderr)
	start := time.Now()
	lastVal := map[trainer.RunID]float64{}
	interrupted := false
	// The log pulls the lab's changes ten times a second (training never
	// waits for it) and prints each update once, in order.
	var tail trainer.Tail
	if sc != nil && sc.existed {
		tail.Skip(lab) // the reopened runs' history was printed before
	}
	pace := time.NewTicker(100 * time.Millisecond)
	defer pace.Stop()
loop:
	for finished := false; !finished; {
		select {
		case <-ctx.Done():
			interrupted = true
			break loop
		case <-pace.C:
		}
		finished = lab.AllFinished() // the pull after this holds the end
		ups, closed := tail.Pull(lab)
		finished = finished || closed
		for _, u := range ups {
			switch v := u.(type) {
			case trainer.EvalPoint:
				lastVal[v.Run] = v.ValLoss
				if *jsonOut {
					_ = enc.Encode(map[string]any{"type": "eval", "run": names[v.Run], "step": v.Step, "val_loss": jsonNum(v.ValLoss), "recall": jsonNum(v.Recall)})
				}
			case trainer.Point:
				if v.Step%*every != 0 && v.Step != 1 {
					continue
				}
				info := runInfo(lab, v.Run)
				if *jsonOut {
					_ = enc.Encode(map[string]any{"type": "step", "run": info.Name, "step": v.Step, "steps": info.Steps, "loss": jsonNum(v.Loss),
						"val_loss": jsonNum(valOr(lastVal, v.Run)), "lr": v.LR, "grad_norm": jsonNum(v.GradNorm), "max_logit": jsonNum(v.MaxLogit),
						"tok_per_sec": v.TokPerSec, "kv_bytes_per_token": info.KVBytesPerToken})
				} else if !*quiet {
					clearLine(stderr, tty)
					fmt.Fprintf(stdout, "%-14s step %*d/%d  loss %.3f  val %s  lr %.1e  %s tok/s  kv %s/token\n",
						info.Name, digits(info.Steps), v.Step, info.Steps, v.Loss, fmtLoss(valOr(lastVal, v.Run)), v.LR,
						commas(v.TokPerSec), fmtBytes(info.KVBytesPerToken))
				}
			case trainer.Event:
				if v.Kind == "start" || v.Kind == "done" {
					continue
				}
				if *jsonOut {
					_ = enc.Encode(map[string]any{"type": "event", "run": names[v.Run], "step": v.Step, "kind": v.Kind, "detail": v.Detail})
				} else {
					clearLine(stderr, tty)
					name := names[v.Run]
					if name == "" {
						name = runInfo(lab, v.Run).Name
						names[v.Run] = name
					}
					fmt.Fprintf(stdout, "%-14s step %d  ** %s: %s\n", name, v.Step, v.Kind, v.Detail)
				}
			case trainer.Sample:
				if *jsonOut {
					_ = enc.Encode(map[string]any{"type": "sample", "run": names[v.Run], "step": v.Step, "text": v.Prompt + v.Text, "decode_tok_per_sec": v.TokPerSec, "cache_bytes": v.CacheBytes, "formula_bytes": v.FormulaBytes})
				} else if !*quiet {
					clearLine(stderr, tty)
					fmt.Fprintf(stdout, "%-14s step %d  sample (%s tok/s, cache %s = formula %s): %q\n", names[v.Run], v.Step,
						commas(v.TokPerSec), fmtBytes(v.CacheBytes), fmtBytes(v.FormulaBytes), oneLine(v.Prompt+v.Text))
				}
			}
		}
		if tty {
			progress(stderr, lab, start)
		}
	}
	clearLine(stderr, tty)
	if sc != nil {
		if err := sc.Save(lab); err != nil {
			fmt.Fprintf(stderr, "mealab: saving session %s: %v\n", sc.Name(), err)
		}
	}
	lab.Close()
	infos := lab.Runs()
	if *jsonOut {
		_ = enc.Encode(map[string]any{"type": "summary", "interrupted": interrupted, "runs": summaryRows(infos), "stable_lr": stableLRs(infos)})
		return nil
	}
	if interrupted {
		fmt.Fprintln(stdout, "\ninterrupted: the table so far")
	}
	fmt.Fprintln(stdout)
	printTable(stdout, infos)
	printStableLR(stdout, infos)
	return nil
}

func runInfo(l *trainer.Lab, id trainer.RunID) trainer.RunInfo {
	for _, r := range l.Runs() {
		if r.ID == id {
			return r
		}
	}
	return trainer.RunInfo{}
}

func valOr(m map[trainer.RunID]float64, id trainer.RunID) float64 {
	if v, ok := m[id]; ok {
		return v
	}
	return math.NaN()
}

// jsonNum keeps NaN and Inf out of JSON (they are not numbers there).
func jsonNum(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil
	}
	return f
}

func effectiveConfig(s trainer.RunSpec) string {
	c := s.Model
	ops := ""
	for _, o := range s.Ops {
		ops += "  at " + o.String()
	}
	return fmt.Sprintf("%s  L=%d D=%d H=%d kv=%s mlp=%d T=%d vocab=%d  batch %d  lr %.1e warmup %d steps %d floor %.2g  clip %g  wd %g  data %s seed %d/%d%s",
		c.Variant(), c.Layers, c.Width, c.Heads, c.KVLabel(), c.MLP, s.SeqLen, c.Vocab, s.Batch, s.Sched.Peak, s.Sched.Warmup, s.Sched.Total,
		s.Sched.FloorFrac, s.Clip, s.Optim.WeightDecay, dataLabel(s.Data), c.Seed, s.DataSeed, ops)
}

func dataLabel(d trainer.DataSpec) string {
	if d.Kind == "file" {
		return d.Path
	}
	if d.Kind == "" {
		return "synthetic"
	}
	return d.Kind
}

type summaryRow struct {
	Run        string  `json:"run"`
	Variant    string  `json:"variant"`
	Params     int     `json:"params"`
	LR         float64 `json:"lr"`
	Step       int     `json:"step"`
	Loss       any     `json:"loss"`
	ValLoss    any     `json:"val_loss"`
	BestVal    any     `json:"best_val"`
	Recall     any     `json:"recall,omitempty"`
	TokPerSec  float64 `json:"tok_per_sec"`
	KVBytes    int64   `json:"kv_bytes_per_token"`
	State      string  `json:"state"`
	DivergedAt int     `json:"diverged_at,omitempty"`
}

func summaryRows(infos []trainer.RunInfo) []summaryRow {
	var out []summaryRow
	for _, r := range infos {
		out = append(out, summaryRow{r.Name, r.Variant, r.Params, r.LR, r.Step, jsonNum(r.Loss), jsonNum(r.ValLoss), jsonNum(r.BestVal),
			jsonNum(r.Recall), r.TokPerSec, r.KVBytesPerToken, r.State.String(), r.DivergedAt})
	}
	return out
}

func printTable(w io.Writer, infos []trainer.RunInfo) {
	recall := false
	for _, r := range infos {
		recall = recall || !math.IsNaN(r.Recall)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := "run\tvariant\tparams\tlr\tstep\ttrain loss\tval loss\tbest val\t"
	if recall {
		head += "recall\t"
	}
	head += "tok/s\tKV/token\tstate\t"
	fmt.Fprintln(tw, head)
	for _, r := range infos {
		state := r.State.String()
		if r.State == trainer.Diverged {
			state = fmt.Sprintf("diverged at %d", r.DivergedAt)
		}
		line := fmt.Sprintf("%s\t%s\t%s\t%.0e\t%d\t%s\t%s\t%s\t", r.Name, r.Variant, fmtCount(r.Params), r.LR, r.Step,
			fmtLoss(r.Loss), fmtLoss(r.ValLoss), fmtLoss(r.BestVal))
		if recall {
			line += fmtPct(r.Recall) + "\t"
		}
		line += fmt.Sprintf("%s\t%s\t%s\t", commas(r.TokPerSec), fmtBytes(r.KVBytesPerToken), state)
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
}

// stableLRs groups runs by variant and reports the largest LR that did not
// diverge (the paper's "best LR is the largest stable LR").
type stableLR struct {
	Variant     string    `json:"variant"`
	MaxStable   float64   `json:"max_stable_lr"` // 0: none stable
	DivergedLRs []float64 `json:"diverged_lrs"`
	BestLR      float64   `json:"best_lr"` // lowest final validation loss among stable runs
	BestVal     float64   `json:"best_val"`
}

func stableLRs(infos []trainer.RunInfo) []stableLR {
	by := map[string]*stableLR{}
	var order []string
	lrs := map[string]map[float64]bool{}
	for _, r := range infos {
		s, ok := by[r.Variant]
		if !ok {
			s = &stableLR{Variant: r.Variant}
			by[r.Variant] = s
			order = append(order, r.Variant)
			lrs[r.Variant] = map[float64]bool{}
		}
		lrs[r.Variant][r.LR] = true
		if r.State == trainer.Diverged {
			s.DivergedLRs = append(s.DivergedLRs, r.LR)
			continue
		}
		if r.LR > s.MaxStable {
			s.MaxStable = r.LR
		}
		if !math.IsNaN(r.ValLoss) && (s.BestLR == 0 || r.ValLoss < s.BestVal) {
			s.BestLR, s.BestVal = r.LR, r.ValLoss
		}
	}
	var out []stableLR
	for _, v := range order {
		if len(lrs[v]) > 1 {
			sort.Float64s(by[v].DivergedLRs)
			out = append(out, *by[v])
		}
	}
	return out
}

func printStableLR(w io.Writer, infos []trainer.RunInfo) {
	rows := stableLRs(infos)
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "\nper variant: the largest LR that did not diverge, the LRs that did, and the LR with the lowest final val loss:")
	for _, r := range rows {
		div := "none"
		if len(r.DivergedLRs) > 0 {
			var s []string
			for _, x := range r.DivergedLRs {
				s = append(s, presets.FormatLR(x))
			}
			div = strings.Join(s, ", ")
		}
		best := "none"
		if r.MaxStable > 0 {
			best = presets.FormatLR(r.MaxStable)
		}
		bestLR := "-"
		if r.BestLR > 0 {
			bestLR = fmt.Sprintf("%s (val %.3f)", presets.FormatLR(r.BestLR), r.BestVal)
		}
		fmt.Fprintf(w, "  %-10s max stable %-7s diverged at %-14s best %s\n", r.Variant, best, div, bestLR)
	}
}

func progress(w io.Writer, l *trainer.Lab, start time.Time) {
	done, total := 0, 0
	for _, r := range l.Runs() {
		total += r.Steps
		if r.State.Finished() {
			done += r.Steps
		} else {
			done += r.Step
		}
	}
	if total == 0 {
		return
	}
	frac := float64(done) / float64(total)
	const width = 30
	n := int(frac * width)
	eta := "--"
	if frac > 0.01 {
		eta = (time.Duration(float64(time.Since(start)) * (1 - frac) / frac)).Round(time.Second).String()
	}
	fmt.Fprintf(w, "\r[%s%s] %3.0f%%  ETA %s ", strings.Repeat("=", n), strings.Repeat(" ", width-n), frac*100, eta)
}

func clearLine(w io.Writer, tty bool) {
	if tty {
		fmt.Fprint(w, "\r\033[K")
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func digits(n int) int { return len(fmt.Sprint(n)) }

func fmtLoss(f float64) string {
	if math.IsNaN(f) {
		return "-"
	}
	return fmt.Sprintf("%.3f", f)
}

func fmtPct(f float64) string {
	if math.IsNaN(f) {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*f)
}

func fmtCount(n int) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// fmtBytes writes a size in B or KiB/MiB.
func fmtBytes(b int64) string {
	switch {
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	case b >= 1<<10:
		v := float64(b) / (1 << 10)
		if v == math.Trunc(v) {
			return fmt.Sprintf("%.0f KiB", v)
		}
		return fmt.Sprintf("%.1f KiB", v)
	}
	return fmt.Sprintf("%d B", b)
}

// commas writes 12480 as "12,480".
func commas(f float64) string {
	n := int64(math.Round(f))
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " / ") }
