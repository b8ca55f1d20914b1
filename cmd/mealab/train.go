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
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/mealab/mealab/compare"
	"github.com/mealab/mealab/gpu"
	"github.com/mealab/mealab/numfmt"
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
	given   map[string]bool // flags that were on the command line
	maxRuns int
	seeds   int
	notes   []string // from resolving the preset: print as warnings
}

func (f *runFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.preset, "preset", presets.Default, "the experiment `NAME` to run (mealab presets lists them)")
	fs.Var(&f.sets, "set", "override a preset value, `key=value` (repeatable), e.g. --set lr=3e-3 --set heads=8")
	fs.StringVar(&f.data, "data", "", "train on a text `FILE` (any UTF-8 text) instead of the built-in data")
	fs.IntVar(&f.steps, "steps", 0, "the number of steps of every run (`N` > 0; on a reopened session: extend to N)")
	fs.IntVar(&f.threads, "threads", 0, "CPU threads (default: all cores)")
	fs.StringVar(&f.session, "session", "", "record into (or reopen) the session `NAME`")
	fs.StringVar(&f.dir, "dir", "", "sessions `DIR` (default $XDG_DATA_HOME/mealab/sessions)")
	fs.StringVar(&f.device, "device", "", "train every run on `DEVICE`: cpu or cuda (the same as --set device=...)")
	fs.IntVar(&f.maxRuns, "max-runs", presets.DefaultMaxRuns, "refuse a preset whose grids expand to more runs than `N`")
	fs.IntVar(&f.seeds, "seeds", 0, "train every run as a group of `N` seeded replicas (1-64; the same as --set seeds=N)")
}

// check notes which flags were given and refuses values that cannot apply.
func (f *runFlags) check(fs *flag.FlagSet) error {
	f.given = givenFlags(fs)
	if f.given["seeds"] && (f.seeds < 1 || f.seeds > presets.MaxSeeds) {
		return usagef("--seeds %d: give a number of replicas from 1 to %d", f.seeds, presets.MaxSeeds)
	}
	if f.given["steps"] && f.steps <= 0 {
		return usagef("--steps %d: the number of steps must be positive", f.steps)
	}
	if f.threads < 0 {
		return usagef("--threads %d: give a positive number of threads, or leave it out for all cores", f.threads)
	}
	if f.given["dir"] && f.session == "" {
		return usagef("--dir applies only with --session NAME")
	}
	return nil
}

// givenFlags lists the flags set on the command line.
func givenFlags(fs *flag.FlagSet) map[string]bool {
	m := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { m[f.Name] = true })
	return m
}

// specs loads the preset and applies the flags (see resolve.go).
func (f *runFlags) specs() (*presets.Preset, []trainer.RunSpec, error) {
	p, specs, err := f.resolve()
	if err != nil {
		return nil, nil, err
	}
	if err := f.checkDevices(p, specs); err != nil {
		return nil, nil, err
	}
	for _, s := range specs {
		if err := trainer.Check(s); err != nil {
			return nil, nil, usagef("run %s: %v", s.Name, err)
		}
	}
	return p, specs, nil
}

// dataHint says where a text file can come from on a machine with nothing
// but this repository.
const dataHint = "any UTF-8 text file of a few hundred KB or more, e.g. tinyshakespeare: curl -o input.txt https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"

// checkDevices refuses, before anything is printed, runs on a device this
// build does not have, naming the flag that asked for it.
func (f *runFlags) checkDevices(p *presets.Preset, specs []trainer.RunSpec) error {
	if gpu.Built {
		return nil
	}
	for _, s := range specs {
		if s.Device != "cuda" {
			continue
		}
		how, fix := fmt.Sprintf("preset %s trains run %s on cuda", p.Name, s.Name), "add --device cpu to train on the CPU"
		switch {
		case f.device == "cuda":
			how, fix = "--device cuda", "leave out --device cuda to train on the CPU"
		case hasSet(f.sets, "device"):
			how, fix = "--set device=cuda", "leave out --set device=cuda to train on the CPU"
		}
		return usagef("%s: this mealab was built without CUDA; %s, or build a CUDA mealab with `go build -tags cuda -o mealab-cuda ./cmd/mealab` (needs cgo, cuda.h and libcuda; see README, \"CUDA\") and run that with %s", how, fix, how)
	}
	return nil
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
       mealab train --session NAME [--steps N]    reopen a session, or extend it to N steps
       mealab train [--preset P | --session S] --only RUN[,RUN] [--json]   some runs of the grid (a sweep's task)

Runs every run of a preset side by side in lock-step: in each round every
running run does one step, in the order of the table, so while a round is
under way the runs ahead by one step are the first ones; run A's step k and
run B's step k train on the same batch (same data seed). All runs take their
first step in the same round. Prints one line per run per log interval and a
final table. Ctrl-C stops at the end of the round in progress, so runs that
stepped together stop at the same step; the table shows it, and a session
holds exactly the steps the table shows.

Each line's "val" is the validation loss measured at the step shown; when
the last validation pass was earlier, the line says where: "val@125 0.646".

Reopening a session continues its runs from their last checkpoints; --steps
N extends every run to N steps (a finished run runs again; the cosine LR
schedule is stretched to end at N, see README "Sessions"). Flags that would
change a run's config (--preset, --set, --data, --device) are refused there.

--json prints JSON lines: {"type":"start"} (with --only, also "only": the
runs), then "step", "eval", "event" and "sample" lines, then "summary". A
run that continues from a checkpoint (a reopened session, or an --only
task started again) first gets {"type":"resume","run":R,"step":K,"steps":N}:
it resumed at step K, and its first step line is K+1, printed whatever
--every says; the text log says "R resumes from its checkpoint at step K/N".

Examples:
  mealab train                                   the default preset (MHA vs MEA)
  mealab train --preset quick
  mealab train --preset lr-sweep                 largest stable LR per variant
  mealab train --preset shakespeare --data input.txt    (any UTF-8 text file)
  mealab train --preset none --set variant=mea --set kv=2 --steps 200
                                                 one run of your own (named mea-h2)
  mealab train --preset quick --session demo     record; then: mealab train --session demo --steps 300
  mealab train --preset lr-sweep --only mea@lr=1e-2 --session S
                                                 one run of the grid (a sweep's array task does this)

Flags:
`

// valSeen is the last validation pass of a run.
type valSeen struct {
	step int
	loss float64
}

// fmtVal writes the validation loss for a line about step: plain when it
// was measured at that step, with its own step otherwise.
func fmtVal(v valSeen, ok bool, step int) string {
	switch {
	case !ok || math.IsNaN(v.loss):
		return "val -"
	case v.step == step:
		return "val " + fmtLoss(v.loss)
	}
	return fmt.Sprintf("val@%d %s", v.step, fmtLoss(v.loss))
}

func cmdTrain(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rf runFlags
	rf.register(fs)
	jsonOut := fs.Bool("json", false, "print JSON lines instead of text")
	every := fs.Int("every", 0, "log interval in `N` steps (default: steps/30)")
	quiet := fs.Bool("quiet", false, "only the final table")
	baseline := fs.String("baseline", "", "with seeds: compare every group against group `NAME` (default: the first)")
	ckEvery := fs.Int("checkpoint-every", 0, "with --session: `N` steps between checkpoints (default 50)")
	var only listFlag
	fs.Var(&only, "only", "train only the run(s) `RUN` of the preset or of the session's sweep (names, comma-separated or repeated)")
	if err := parseFlags(fs, args, trainUsage, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q; flags only, e.g. mealab train --preset quick", fs.Arg(0))
	}
	if err := rf.check(fs); err != nil {
		return err
	}
	if rf.given["every"] && *every <= 0 {
		return usagef("--every %d: the log interval must be a positive number of steps", *every)
	}
	if rf.given["checkpoint-every"] {
		if rf.session == "" {
			return usagef("--checkpoint-every applies only with --session NAME")
		}
		if *ckEvery <= 0 {
			return usagef("--checkpoint-every %d: give a positive number of steps", *ckEvery)
		}
	}
	if *quiet && *jsonOut {
		return usagef("--quiet and --json cannot go together: --json prints every line as JSON; leave one out")
	}
	sc, err := findSession(rf.session, rf.dir, *ckEvery)
	if err != nil {
		return err
	}
	if len(only) > 0 {
		if rf.given["baseline"] {
			return usagef("--baseline compares the seed groups of a whole grid; --only trains part of one, so leave out --baseline (mealab train --session S --baseline NAME compares them once the runs are there)")
		}
		return trainOnly(only, &rf, sc, *quiet, *jsonOut, *every, stdout, stderr)
	}
	reopen := sc != nil && sc.existed
	var p *presets.Preset
	var specs []trainer.RunSpec
	if reopen && len(only) == 0 {
		if err := sc.reopenConflicts(&rf); err != nil {
			return err
		}
	} else if p, specs, err = rf.specs(); err != nil {
		return err
	}
	printNotes(stderr, rf.notes)
	if !reopen {
		if err := checkBaseline(*baseline, specs); err != nil {
			return err
		}
	}
	compute := setupCompute(rf.threads)
	// SIGTERM (Slurm's time limit, preemption, scancel) stops like Ctrl-C:
	// every run is checkpointed before the process exits.
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	if !reopen {
		if err := sc.create(p.Name); err != nil {
			return err
		}
	}
	defer sc.Close()
	opts := trainer.Options{Compute: compute}
	sc.options(&opts)
	lab, queue := newLoggedLab(opts)
	defer lab.Close()

	enc := json.NewEncoder(stdout)
	var notes []string
	steps := 0
	if reopen {
		steps = rf.steps
	}
	if !*jsonOut {
		if reopen {
			fmt.Fprintf(stdout, "mealab train: reopening session %s (preset %s), %s\n", sc.Name(), sc.preset, computeLabel())
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
		name := sc.presetName()
		if p != nil {
			name = p.Name
		}
		_ = enc.Encode(map[string]any{"type": "start", "preset": name, "session": sc.nameOrEmpty(), "reopened": reopen, "runs": specs, "compute": computeLabel()})
	}
	warnings, err := sc.start(lab, specs, false, steps, func(n string) { notes = append(notes, n) })
	if err != nil {
		return err
	}
	for _, n := range notes {
		if *jsonOut {
			_ = enc.Encode(map[string]any{"type": "note", "text": n})
		} else {
			fmt.Fprintf(stdout, "  %s\n", n)
		}
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "mealab: warning: %s\n", w)
	}
	if reopen {
		var started []trainer.RunSpec
		for _, r := range lab.Runs() {
			started = append(started, r.Spec)
		}
		if err := checkBaseline(*baseline, started); err != nil {
			return err
		}
	}
	infos := map[trainer.RunID]trainer.RunInfo{}
	maxSteps := 0
	for _, r := range lab.Runs() {
		infos[r.ID] = r
		maxSteps = max(maxSteps, r.Steps)
	}
	if *every <= 0 {
		*every = max(1, maxSteps/30)
	}
	tty := !*jsonOut && isTerminal(stderr)
	start := time.Now()
	tl := newTrainLog(enc, stdout, stderr, *jsonOut, *quiet, tty, *every, infos)
	if reopen {
		tl.watchResumes(lab)
	}
	interrupted := false
	for !lab.AllFinished() {
		select {
		case <-ctx.Done():
			interrupted = true
		case <-queue.ready:
			for _, u := range queue.take() {
				tl.handle(u)
			}
		case <-time.After(200 * time.Millisecond):
		}
		if interrupted {
			break
		}
		if tty {
			progress(stderr, lab, start)
		}
	}
	// Stop stepping first, then save: the checkpoints are then at exactly
	// the steps the logs end with and the table shows.
	sc.closeAndSave(lab, stderr)
	for _, u := range queue.take() {
		tl.handle(u)
	}
	tl.flush()
	clearLine(stderr, tty)
	final := lab.Runs()
	if *jsonOut {
		_ = enc.Encode(map[string]any{"type": "summary", "interrupted": interrupted, "runs": summaryRows(final), "stable_lr": stableLRs(final), "groups": groupRows(final, *baseline)})
		return nil
	}
	if interrupted {
		fmt.Fprintln(stdout, "\ninterrupted: the table so far (stopped at the end of a round; a session holds exactly these steps)")
	}
	fmt.Fprintln(stdout)
	printTable(stdout, final)
	printStableLR(stdout, final)
	printGroups(stdout, final, *baseline)
	return nil
}

// updateQueue takes a lab's updates on the lab's goroutine (as part of its
// Sink) without ever blocking it, and hands them over in order.
type updateQueue struct {
	mu    sync.Mutex
	q     []trainer.Update
	ready chan struct{} // a signal that q is not empty
}

func newUpdateQueue() *updateQueue { return &updateQueue{ready: make(chan struct{}, 1)} }

// newLoggedLab starts a lab whose every update, after the session's sink
// (when recording), is pushed in order to the returned queue: the log, like
// the session, loses none and sees only what happens from now on (a
// resumed run's past is not printed again).
func newLoggedLab(opts trainer.Options) (*trainer.Lab, *updateQueue) {
	queue := newUpdateQueue()
	if rec := opts.Sink; rec != nil {
		opts.Sink = func(u trainer.Update) { rec(u); queue.push(u) }
	} else {
		opts.Sink = queue.push
	}
	return trainer.NewLab(opts), queue
}

func (q *updateQueue) push(u trainer.Update) {
	q.mu.Lock()
	q.q = append(q.q, u)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *updateQueue) take() []trainer.Update {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := q.q
	q.q = nil
	return out
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
	LossSpikes int     `json:"loss_spikes"`
	GradSpikes int     `json:"grad_spikes"`
}

func summaryRows(infos []trainer.RunInfo) []summaryRow {
	var out []summaryRow
	for _, r := range infos {
		out = append(out, summaryRow{r.Name, r.Variant, r.Params, r.LR, r.Step, jsonNum(r.Loss), jsonNum(r.ValLoss), jsonNum(r.BestVal),
			jsonNum(r.Recall), r.TokPerSec, r.KVBytesPerToken, r.State.String(), r.DivergedAt, r.LossSpikes, r.GradSpikes})
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
	head += "tok/s\tKV/token\tspikes\tstate\t"
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
		line += fmt.Sprintf("%s\t%s\t%d/%d\t%s\t", commas(r.TokPerSec), fmtBytes(r.KVBytesPerToken), r.LossSpikes, r.GradSpikes, state)
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
	fmt.Fprintf(w, "spikes: loss/grad-norm spike episodes (EMA-smoothed loss %.0f%% over its %d-step minimum, grad norm %gx its %d-step mean)\n",
		100*trainer.SpikeLossRise, trainer.SpikeWindow, trainer.SpikeGradFactor, trainer.SpikeWindow)
}

// stableLR is one variant's stability over an LR ladder (the paper's "best
// LR is the largest stable LR"), with how many seeds diverged at each LR.
type stableLR struct {
	Variant     string    `json:"variant"`
	MaxStable   float64   `json:"max_stable_lr"` // 0: none stable
	DivergedLRs []float64 `json:"diverged_lrs"`  // LRs where at least one seed diverged
	BestLR      float64   `json:"best_lr"`       // lowest mean final validation loss among stable LRs
	BestVal     float64   `json:"best_val"`
	PerLR       []lrCount `json:"per_lr"`
}

type lrCount struct {
	LR       float64 `json:"lr"`
	Seeds    int     `json:"seeds"`
	Diverged int     `json:"diverged"`
}

func stableLRs(infos []trainer.RunInfo) []stableLR {
	var out []stableLR
	for _, s := range compare.Stabilities(infos) {
		if len(s.PerLR) < 2 {
			continue
		}
		r := stableLR{Variant: s.Variant, MaxStable: s.MaxStable, BestLR: s.BestLR, BestVal: s.BestVal}
		for _, c := range s.PerLR {
			r.PerLR = append(r.PerLR, lrCount{LR: c.LR, Seeds: c.Seeds, Diverged: c.Diverged})
			if c.Diverged > 0 {
				r.DivergedLRs = append(r.DivergedLRs, c.LR)
			}
		}
		out = append(out, r)
	}
	return out
}

func printStableLR(w io.Writer, infos []trainer.RunInfo) {
	rows := stableLRs(infos)
	if len(rows) == 0 {
		return
	}
	seeded := hasGroups(infos)
	if seeded {
		fmt.Fprintln(w, "\nper variant: the largest LR at which no seed diverged, diverged seeds per LR, and the stable LR with the lowest mean final val loss:")
	} else {
		fmt.Fprintln(w, "\nper variant: the largest LR that did not diverge, the LRs that did, and the LR with the lowest final val loss:")
	}
	for _, r := range rows {
		div := "none"
		if seeded {
			var s []string
			for _, c := range r.PerLR {
				s = append(s, fmt.Sprintf("%s %d/%d", presets.FormatLR(c.LR), c.Diverged, c.Seeds))
			}
			div = strings.Join(s, ", ")
		} else if len(r.DivergedLRs) > 0 {
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
		if seeded {
			fmt.Fprintf(w, "  %-10s max stable %-7s diverged seeds per LR: %s  best %s\n", r.Variant, best, div, bestLR)
			continue
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

// fmtLoss, fmtBytes and commas write numbers as the lab's screen does
// (package numfmt).
func fmtLoss(f float64) string { return numfmt.Loss(f) }

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

func fmtBytes(b int64) string { return numfmt.Bytes(b) }

func commas(f float64) string { return numfmt.Round(f) }

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " / ") }
