package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mealab/mealab/cpu"
	"github.com/mealab/mealab/model"
)

const benchUsage = `Usage: mealab bench [--config A,B] [--variants mha,mea,mea-h2] [--threads 1,2] [--repeat N] [--json]
       mealab bench --scaling [--variants ...] [--threads 2]
       mealab bench --serving [--batch 1,8,32] [--context 256,1024,4096] [--gen 16]

Measures this machine first: its FMA peak (twelve independent FMA chains on
registers, AVX-512 and AVX2, per thread count), this build's SGEMM on a
2048x128x384 product and, for --serving, its memory read bandwidth. Then it
times whole training steps (forward, backward, clipping, AdamW) on random
tokens and decoding with the KV cache, and reports every training row as a
fraction of the FMA peak at the same thread count (MFU), all in the same run.
The peak used is the one measured before the rows; it is measured again
after them and printed, so a reader sees whether the machine changed.

Useful FLOPs per token = 6 x (parameters of all matmul weights, LM head
included) + 12 x layers x context x width (attention over the full context,
the usual MFU convention, although causal kernels skip the upper half).

"cpu ms" is the process's CPU time per step divided by the thread count, and
"MFU/cpu" the MFU with it in place of the wall time: on a machine shared
with other work, wall time counts the time the threads waited for a core;
CPU time does not (but does count the pool's spinning while a thread waits
for its partner), so it estimates the step on cores of its own.

With --repeat N the variants of a config run interleaved N times (MHA, MEA,
MEA h/2, MHA, ...) and each row gives the median step time and the median of
the per-round ratios to the first variant ("vs first"), so ratios compare
measurements taken seconds apart.

--scaling times a width sweep (64-512), a depth sweep and a context sweep
(64-1024), with the resident memory a training step added (RSS) next to the
model's own estimate (parameters, gradients, AdamW moments, activations).

--serving decodes batches of sequences at serving shapes (config B's layers,
width and heads, the context given): a prompt fills each cache (prefill), then
--gen tokens are generated per sequence; it reports prefill and generation
tok/s (also over CPU time, as "cpu ms" above), the cache bytes, and the
bytes of cache and weights read per step as a fraction of the measured memory
bandwidth.

Configs:  A  layers 4, width 128, heads 4, vocab 256, context 128, batch 16
          B  layers 6, width 256, heads 8, vocab 256, context 256, batch 8

Flags:
`

type benchConfig struct {
	Name                                 string
	Layers, Width, Heads, Context, Batch int
}

var benchConfigs = map[string]benchConfig{
	"A":    {"A", 4, 128, 4, 128, 16},
	"B":    {"B", 6, 256, 8, 256, 8},
	"tiny": {"tiny", 2, 32, 4, 32, 4}, // for tests
}

type benchResult struct {
	Config       string  `json:"config"`
	Variant      string  `json:"variant"`
	Threads      int     `json:"threads"`
	StepMS       float64 `json:"step_ms"`
	TokPerSec    float64 `json:"tok_per_sec"`
	FLOPsPerTok  float64 `json:"flops_per_token"`
	GFLOPS       float64 `json:"gflops"`
	Peak         float64 `json:"peak_gflops,omitempty"` // the denominator of MFU
	MFU          float64 `json:"mfu,omitempty"`         // GFLOPS / Peak
	CPUStepMS    float64 `json:"cpu_step_ms,omitempty"` // process CPU time per step / threads
	MFUCPU       float64 `json:"mfu_cpu,omitempty"`     // MFU with CPUStepMS in place of the wall time
	VsFirst      float64 `json:"step_vs_first,omitempty"`
	Rounds       int     `json:"rounds"`
	DecodeTokSec float64 `json:"decode_tok_per_sec,omitempty"`
	CacheBytes   int64   `json:"cache_bytes,omitempty"`
	KVPerToken   int64   `json:"kv_bytes_per_token"`
	RSSBytes     int64   `json:"rss_bytes,omitempty"`      // resident memory added by model + step
	EstBytes     int64   `json:"estimate_bytes,omitempty"` // params, grads, moments, activations
	Kernel       string  `json:"kernel"`
}

// machineInfo is what the run measured about the machine itself.
type machineInfo struct {
	Kernel    string             `json:"kernel"`
	Peak      map[string]float64 `json:"fma_peak_gflops"`  // "avx512/2" -> GFLOP/s
	Sgemm     map[string]float64 `json:"sgemm_gflops"`     // "2" -> GFLOP/s, M2048_K128_N384
	Bandwidth map[string]float64 `json:"read_bw_gbytes_s"` // "2" -> GB/s
	PeakUsed  map[string]float64 `json:"peak_used_gflops"` // threads -> denominator of MFU
	Override  bool               `json:"peak_override"`
}

type benchFlags struct {
	steps, repeat, decodeN int
	peak, peak1            float64
	jsonOut                bool
}

func cmdBench(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configs := fs.String("config", "A,B", "configs to run: A, B")
	variants := fs.String("variants", "mha,mea,mea-h2", "attention variants: "+strings.Join(model.VariantNames(), ", ")+", mea-h2 (h'=h/2)")
	threads := fs.String("threads", "", "thread counts to measure, e.g. 1,2 (default: all cores)")
	var bf benchFlags
	fs.IntVar(&bf.steps, "steps", 5, "timed training steps per measurement (after 2 warm-up steps)")
	fs.IntVar(&bf.repeat, "repeat", 1, "rounds of interleaved measurements per config and thread count")
	fs.Float64Var(&bf.peak, "peak", 0, "override the measured FMA peak (GFLOP/s) as the MFU denominator, for every thread count (see --peak1)")
	fs.Float64Var(&bf.peak1, "peak1", 0, "with --peak: the denominator for 1-thread rows (default --peak)")
	fs.IntVar(&bf.decodeN, "decode", 128, "tokens to decode (batch 1) after each training measurement; 0 skips")
	fs.BoolVar(&bf.jsonOut, "json", false, "print JSON lines")
	scaling := fs.Bool("scaling", false, "time width, depth and context sweeps instead of configs A and B")
	serving := fs.Bool("serving", false, "time batched decoding at serving shapes instead of training")
	batches := fs.String("batch", "1,8,32", "with --serving: batch sizes")
	contexts := fs.String("context", "256,1024,4096", "with --serving: context lengths (prompt + generated tokens)")
	gen := fs.Int("gen", 16, "with --serving: tokens generated per sequence")
	bwBytes := fs.Int64("bw-bytes", 1<<30, "with --serving: bytes of the bandwidth probe's buffer (make it larger than the last-level cache)")
	if err := parseFlags(fs, args, benchUsage, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q; mealab bench takes flags only (mealab bench --help)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if bf.steps < 1 {
		return usagef("--steps must be at least 1")
	}
	if bf.repeat < 1 {
		return usagef("--repeat must be at least 1")
	}
	if bf.peak < 0 || bf.peak1 < 0 || (bf.peak1 > 0 && bf.peak == 0) {
		return usagef("--peak must be positive, and --peak1 needs --peak")
	}
	if *scaling && *serving {
		return usagef("--scaling and --serving are separate runs; give one")
	}
	for _, f := range []string{"batch", "context", "gen", "bw-bytes"} {
		if set[f] && !*serving {
			return usagef("--%s applies only with --serving", f)
		}
	}
	if (*scaling || *serving) && set["config"] {
		return usagef("--config names the training configs A and B; --scaling and --serving choose their own shapes")
	}
	ths, err := parseInts(*threads, "--threads")
	if err != nil {
		return err
	}
	if len(ths) == 0 {
		ths = []int{cpu.Threads()}
	}
	vars, err := parseVariants(*variants)
	if err != nil {
		return err
	}
	defer cpu.SetThreads(cpu.Threads())

	mi := probeMachine(ths, *serving, *bwBytes)
	if bf.peak > 0 {
		mi.Override = true
		for _, th := range ths {
			mi.PeakUsed[strconv.Itoa(th)] = bf.peak
			if th == 1 && bf.peak1 > 0 {
				mi.PeakUsed["1"] = bf.peak1
			}
		}
	}
	printMachine(stdout, mi, bf.jsonOut)

	switch {
	case *serving:
		bs, err := parseInts(*batches, "--batch")
		if err != nil {
			return err
		}
		cs, err := parseInts(*contexts, "--context")
		if err != nil {
			return err
		}
		if *gen < 1 {
			return usagef("--gen must be at least 1")
		}
		for _, ctx := range cs {
			if ctx <= *gen || ctx > model.MaxContext {
				return usagef("--context %d: give lengths above --gen (%d) and at most %d", ctx, *gen, model.MaxContext)
			}
		}
		return benchServing(stdout, mi, vars, ths, bs, cs, *gen, bf.jsonOut)
	case *scaling:
		return benchScaling(stdout, mi, vars, ths, bf)
	}
	var bcs []benchConfig
	for _, cn := range strings.Split(*configs, ",") {
		bc, ok := benchConfigs[strings.TrimSpace(cn)]
		if !ok {
			return usagef("--config %q: use A, B or A,B", cn)
		}
		bcs = append(bcs, bc)
	}
	tw := newTrainTable(stdout, bf.jsonOut, false)
	for _, bc := range bcs {
		for _, th := range ths {
			if err := benchGroup(tw, mi, bc, vars, th, bf, false); err != nil {
				return err
			}
		}
	}
	return remeasurePeak(stdout, mi, ths, bf.jsonOut)
}

type benchVariant struct{ name, kw string }

func parseVariants(s string) ([]benchVariant, error) {
	var vs []benchVariant
	for _, vn := range strings.Split(s, ",") {
		vn = strings.TrimSpace(vn)
		probe := model.Config{Vocab: 8, Context: 8, Layers: 1, Width: 32, Heads: 4}
		name, kv := vn, 0
		if vn == "mea-h2" {
			name, kv = "mea", 2
		}
		if err := probe.ApplyVariant(name, kv); err != nil {
			return nil, usageError{"--variants: " + err.Error()}
		}
		vs = append(vs, benchVariant{name: vn, kw: name})
	}
	return vs, nil
}

// apply sets the variant on c (mea-h2 halves the heads).
func (v benchVariant) apply(c *model.Config) error {
	kv := 0
	if v.name == "mea-h2" {
		kv = c.Heads / 2
	}
	return c.ApplyVariant(v.kw, kv)
}

func parseInts(s, flagName string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, usagef("%s %q: give positive counts like 1,2", flagName, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// probeMachine measures the FMA peak of every ISA this build can probe, the
// SGEMM reference shape at each thread count, and (for serving rows) the
// memory read bandwidth.
func probeMachine(ths []int, bandwidth bool, bwBytes int64) *machineInfo {
	mi := &machineInfo{Kernel: cpu.Features(), Peak: map[string]float64{}, Sgemm: map[string]float64{},
		Bandwidth: map[string]float64{}, PeakUsed: map[string]float64{}}
	measurePeaks(mi, ths)
	for _, th := range ths {
		cpu.SetThreads(th)
		mi.Sgemm[strconv.Itoa(th)] = cpu.MeasureSgemm(2048, 128, 384, 300*time.Millisecond)
		if bandwidth {
			if g, err := cpu.MeasureBandwidth(bwBytes, th, 3); err == nil {
				mi.Bandwidth[strconv.Itoa(th)] = g
			}
		}
	}
	return mi
}

// measurePeaks measures (or measures again) every ISA's peak per thread
// count and keeps the highest figure seen; the widest ISA's is the MFU
// denominator.
func measurePeaks(mi *machineInfo, ths []int) {
	for i, isa := range cpu.PeakISAs() {
		for _, th := range ths {
			g, err := cpu.MeasureFMAPeak(isa, th, 30)
			if err != nil {
				continue
			}
			key := fmt.Sprintf("%s/%d", isa, th)
			mi.Peak[key] = max(mi.Peak[key], g)
			if i == 0 && !mi.Override {
				mi.PeakUsed[strconv.Itoa(th)] = mi.Peak[key]
			}
		}
	}
}

func printMachine(w io.Writer, mi *machineInfo, jsonOut bool) {
	if jsonOut {
		_ = json.NewEncoder(w).Encode(map[string]any{"machine": mi})
		return
	}
	fmt.Fprintf(w, "mealab bench: kernel %s, %d cores\n", mi.Kernel, runtime.NumCPU())
	fmt.Fprintf(w, "  FMA peak (GFLOP/s):")
	for _, k := range sortedKeys(mi.Peak) {
		fmt.Fprintf(w, "  %s threads %.1f", k, mi.Peak[k])
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  SGEMM M2048_K128_N384 (GFLOP/s, median):")
	for _, k := range sortedKeys(mi.Sgemm) {
		fmt.Fprintf(w, "  %s threads %.1f (%.0f%% of peak)", k, mi.Sgemm[k], 100*mi.Sgemm[k]/mi.PeakUsed[k])
	}
	fmt.Fprintln(w)
	if len(mi.Bandwidth) > 0 {
		fmt.Fprintf(w, "  memory read bandwidth (GB/s):")
		for _, k := range sortedKeys(mi.Bandwidth) {
			fmt.Fprintf(w, "  %s threads %.1f", k, mi.Bandwidth[k])
		}
		fmt.Fprintln(w)
	}
	if mi.Override {
		fmt.Fprintf(w, "  MFU denominator: --peak override %v\n", mi.PeakUsed)
	}
}

// remeasurePeak measures the peak again after the rows, so a reader sees
// whether the machine was as quiet at the end as at the start.
func remeasurePeak(w io.Writer, mi *machineInfo, ths []int, jsonOut bool) error {
	before := map[string]float64{}
	for k, v := range mi.Peak {
		before[k] = v
	}
	after := &machineInfo{Peak: map[string]float64{}, PeakUsed: map[string]float64{}, Override: true}
	measurePeaks(after, ths)
	if jsonOut {
		return json.NewEncoder(w).Encode(map[string]any{"fma_peak_after": after.Peak})
	}
	fmt.Fprintf(w, "  FMA peak after the rows (GFLOP/s):")
	for _, k := range sortedKeys(after.Peak) {
		fmt.Fprintf(w, "  %s threads %.1f (before %.1f)", k, after.Peak[k], before[k])
	}
	fmt.Fprintln(w)
	return nil
}

func sortedKeys(m map[string]float64) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

type trainTable struct {
	w       io.Writer
	jsonOut bool
	mem     bool
}

const trainRow = "%-8s %-10s %7s %9s %9s %8s %6s %8s %7s %9s %12s %9s %9s\n"

func newTrainTable(w io.Writer, jsonOut, mem bool) *trainTable {
	t := &trainTable{w: w, jsonOut: jsonOut, mem: mem}
	if !jsonOut {
		last := "decode tok/s"
		c1, c2 := "KV/token", "cache"
		if mem {
			last, c1, c2 = "", "RSS", "estimate"
		}
		fmt.Fprintf(w, trainRow, "config", "variant", "threads", "step ms", "tok/s", "GFLOP/s", "MFU", "cpu ms", "MFU/cpu", "vs first", last, c1, c2)
	}
	return t
}

func (t *trainTable) row(r benchResult) {
	if t.jsonOut {
		_ = json.NewEncoder(t.w).Encode(r)
		return
	}
	mfu, vs, cms, mfuc := "-", "-", "-", "-"
	if r.MFU > 0 {
		mfu = fmt.Sprintf("%.0f%%", 100*r.MFU)
	}
	if r.CPUStepMS > 0 {
		cms = fmt.Sprintf("%.1f", r.CPUStepMS)
	}
	if r.MFUCPU > 0 {
		mfuc = fmt.Sprintf("%.0f%%", 100*r.MFUCPU)
	}
	if r.VsFirst > 0 {
		vs = fmt.Sprintf("%.3f", r.VsFirst)
	}
	last, c1, c2 := commas(r.DecodeTokSec), fmtBytes(r.KVPerToken), fmtBytes(r.CacheBytes)
	if t.mem {
		last, c1, c2 = "", fmtBytes(r.RSSBytes), fmtBytes(r.EstBytes)
	}
	fmt.Fprintf(t.w, trainRow, r.Config, r.Variant, strconv.Itoa(r.Threads), fmt.Sprintf("%.1f", r.StepMS), commas(r.TokPerSec),
		fmt.Sprintf("%.1f", r.GFLOPS), mfu, cms, mfuc, vs, last, c1, c2)
}

// FLOPsPerToken is 6 x matmul parameters + 12 x layers x context x width.
func FLOPsPerToken(c model.Config) float64 {
	c = c.Normalized()
	l := model.NewLayout(c)
	return 6*float64(l.MatmulParams()) + 12*float64(c.Layers*c.Context*c.Width)
}

// benchTrainer is one model, its optimiser and a random batch.
type benchTrainer struct {
	c     model.Config
	bc    benchConfig
	m     *model.Model[float32]
	opt   *model.AdamW[float32]
	x, y  []int32
	times []float64 // seconds per step, one per round
	cpu   []float64 // process CPU seconds per step, one per round
}

func newTrainer(bc benchConfig, c model.Config) (*benchTrainer, error) {
	m, err := model.New[float32](c, cpu.Compute{})
	if err != nil {
		return nil, err
	}
	tr := &benchTrainer{c: c, bc: bc, m: m, opt: model.NewAdamW[float32](model.DefaultAdamW(), m.Layout)}
	tr.opt.Parallel = cpu.ParallelFor
	tr.opt.UseKernels(cpu.Compute{})
	rng := rand.New(rand.NewPCG(1, 2))
	N := bc.Batch * bc.Context
	tr.x, tr.y = make([]int32, N), make([]int32, N)
	for i := range tr.x {
		tr.x[i], tr.y[i] = int32(rng.IntN(c.Vocab)), int32(rng.IntN(c.Vocab))
	}
	return tr, nil
}

func (tr *benchTrainer) step() error {
	if _, err := tr.m.Forward(tr.x, tr.y, tr.bc.Batch, tr.bc.Context); err != nil {
		return err
	}
	tr.m.ZeroGrad()
	tr.m.Backward(1)
	tr.m.ClipGrads(1)
	tr.opt.Step(tr.m.Params, tr.m.Grads, 1e-4)
	return nil
}

// timeSteps runs steps timed steps and records their mean.
func (tr *benchTrainer) timeSteps(steps int) error {
	c0, t0 := processCPUSeconds(), time.Now()
	for range steps {
		if err := tr.step(); err != nil {
			return err
		}
	}
	tr.times = append(tr.times, time.Since(t0).Seconds()/float64(steps))
	tr.cpu = append(tr.cpu, (processCPUSeconds()-c0)/float64(steps))
	return nil
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// benchGroup measures the variants of one shape at one thread count,
// interleaved over bf.repeat rounds, and prints one row per variant.
func benchGroup(tw *trainTable, mi *machineInfo, bc benchConfig, vars []benchVariant, th int, bf benchFlags, mem bool) error {
	cpu.SetThreads(th)
	var trs []*benchTrainer
	var rss, est []int64
	for _, v := range vars {
		c := model.Config{Vocab: 256, Context: bc.Context, Layers: bc.Layers, Width: bc.Width, Heads: bc.Heads, Seed: 1}
		if err := v.apply(&c); err != nil {
			return usageError{err.Error()}
		}
		base := residentBytes(true)
		tr, err := newTrainer(bc, c)
		if err != nil {
			return err
		}
		for range 2 {
			if err := tr.step(); err != nil {
				return err
			}
		}
		if mem {
			rss = append(rss, residentBytes(false)-base)
			est = append(est, 16*int64(tr.m.ParamCount())+model.ActivationBytes(c, bc.Batch, bc.Context, 4))
			trs = append(trs, tr)
			// Time this one now and free it before the next is built, so
			// each RSS figure is one model's.
			for range bf.repeat {
				if err := tr.timeSteps(bf.steps); err != nil {
					return err
				}
			}
			tr.m = nil
			continue
		}
		trs = append(trs, tr)
	}
	if !mem {
		for range bf.repeat {
			for _, tr := range trs {
				if err := tr.timeSteps(bf.steps); err != nil {
					return err
				}
			}
		}
	}
	for i, tr := range trs {
		dt := median(tr.times)
		N := float64(bc.Batch * bc.Context)
		fpt := FLOPsPerToken(tr.c)
		r := benchResult{Config: bc.Name, Variant: tr.c.Variant(), Threads: th, StepMS: dt * 1000, TokPerSec: N / dt,
			FLOPsPerTok: fpt, GFLOPS: fpt * N / dt / 1e9, Kernel: cpu.Features(), KVPerToken: tr.c.KVBytesPerToken(4),
			Rounds: len(tr.times)}
		if cs := median(tr.cpu) / float64(th); cs > 0 {
			r.CPUStepMS = cs * 1000
		}
		if p := mi.PeakUsed[strconv.Itoa(th)]; p > 0 {
			r.Peak, r.MFU = p, r.GFLOPS/p
			if r.CPUStepMS > 0 {
				r.MFUCPU = fpt * N / (r.CPUStepMS / 1000) / 1e9 / p
			}
		}
		if i > 0 {
			ratios := make([]float64, len(tr.times))
			for k := range tr.times {
				ratios[k] = tr.times[k] / trs[0].times[k]
			}
			r.VsFirst = median(ratios)
		}
		if mem {
			r.RSSBytes, r.EstBytes = rss[i], est[i]
		} else if bf.decodeN > 0 {
			n := min(bf.decodeN, tr.c.Context-1)
			t0 := time.Now()
			out, kc, err := tr.m.Generate([]int32{1}, n, model.NewSampler(0, 0, 1))
			if err != nil {
				return err
			}
			r.DecodeTokSec = float64(len(out)+1) / time.Since(t0).Seconds()
			r.CacheBytes = kc.Bytes()
		}
		tw.row(r)
	}
	return nil
}

// residentBytes is the process's resident memory from /proc/self/statm (0
// where that file does not exist). With settle, garbage is collected and
// returned to the OS first, so the figure is a baseline.
func residentBytes(settle bool) int64 {
	if settle {
		runtime.GC()
		debug.FreeOSMemory()
	}
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// benchScaling times MHA and the other variants as the model grows along one
// axis at a time, from a base of 4 layers, width 256, 8 heads (d = 32),
// context 256, 2048 tokens per batch.
func benchScaling(w io.Writer, mi *machineInfo, vars []benchVariant, ths []int, bf benchFlags) error {
	type axis struct {
		name  string
		sizes []int
		shape func(n int) benchConfig
	}
	axes := []axis{
		{"width", []int{64, 128, 256, 512}, func(n int) benchConfig {
			return benchConfig{fmt.Sprintf("w%d", n), 4, n, n / 32, 256, 8}
		}},
		{"depth", []int{2, 4, 8, 12}, func(n int) benchConfig {
			return benchConfig{fmt.Sprintf("L%d", n), n, 256, 8, 256, 8}
		}},
		{"context", []int{64, 128, 256, 512, 1024}, func(n int) benchConfig {
			return benchConfig{fmt.Sprintf("T%d", n), 4, 256, 8, n, max(1, 2048/n)}
		}},
	}
	tw := newTrainTable(w, bf.jsonOut, true)
	for _, ax := range axes {
		if !bf.jsonOut {
			fmt.Fprintf(w, "-- %s (base: 4 layers, width 256, 8 heads, context 256, 2048 tokens a batch)\n", ax.name)
		}
		for _, n := range ax.sizes {
			for _, th := range ths {
				if err := benchGroup(tw, mi, ax.shape(n), vars, th, bf, true); err != nil {
					return err
				}
			}
		}
	}
	return remeasurePeak(w, mi, ths, bf.jsonOut)
}

type servingResult struct {
	Variant       string  `json:"variant"`
	Threads       int     `json:"threads"`
	Batch         int     `json:"batch"`
	Context       int     `json:"context"`
	PrefillTokSec float64 `json:"prefill_tok_per_sec"`
	GenTokSec     float64 `json:"gen_tok_per_sec"`               // generated tokens of all sequences per second
	GenTokCPU     float64 `json:"gen_tok_per_cpu_sec,omitempty"` // the same over process CPU time / threads
	CacheBytes    int64   `json:"cache_bytes"`
	BytesPerStep  int64   `json:"bytes_per_step"` // cache read + weights read per batched step
	BWFraction    float64 `json:"bandwidth_fraction,omitempty"`
	VsFirst       float64 `json:"gen_vs_first,omitempty"` // generation tok/s over the first variant's
	VsFirstCPU    float64 `json:"gen_vs_first_cpu,omitempty"`
}

// benchServing decodes at serving shapes: config B's layers, width and heads
// (vocab 256) with the context given, a random prompt of context - gen
// tokens prefilled once per batch shape (every sequence gets the same
// prompt, so the forward pass runs once and the cache rows are copied), then
// gen batched decoding steps, timed.
func benchServing(w io.Writer, mi *machineInfo, vars []benchVariant, ths, batches, contexts []int, gen int, jsonOut bool) error {
	const row = "%-10s %7s %6s %8s %12s %10s %10s %10s %10s %7s %9s %9s\n"
	if !jsonOut {
		fmt.Fprintf(w, row, "variant", "threads", "batch", "context", "prefill t/s", "gen tok/s", "cpu tok/s", "cache", "read/step", "of BW", "vs first", "(cpu)")
	}
	for _, th := range ths {
		cpu.SetThreads(th)
		for _, ctx := range contexts {
			for _, B := range batches {
				var first, firstCPU float64
				for vi, v := range vars {
					c := model.Config{Vocab: 256, Context: ctx, Layers: 6, Width: 256, Heads: 8, Seed: 1}
					if err := v.apply(&c); err != nil {
						return usageError{err.Error()}
					}
					r, err := serveOne(c, th, B, ctx, gen)
					if err != nil {
						return err
					}
					if bw := mi.Bandwidth[strconv.Itoa(th)]; bw > 0 {
						r.BWFraction = float64(r.BytesPerStep) * r.GenTokSec / float64(B) / (bw * 1e9)
					}
					if vi == 0 {
						first, firstCPU = r.GenTokSec, r.GenTokCPU
					} else {
						r.VsFirst = r.GenTokSec / first
						if firstCPU > 0 {
							r.VsFirstCPU = r.GenTokCPU / firstCPU
						}
					}
					if jsonOut {
						_ = json.NewEncoder(w).Encode(r)
						continue
					}
					vs, vsc := "-", "-"
					if r.VsFirst > 0 {
						vs = fmt.Sprintf("%.2fx", r.VsFirst)
					}
					if r.VsFirstCPU > 0 {
						vsc = fmt.Sprintf("%.2fx", r.VsFirstCPU)
					}
					fmt.Fprintf(w, row, r.Variant, strconv.Itoa(th), strconv.Itoa(B), strconv.Itoa(ctx), commas(r.PrefillTokSec),
						commas(r.GenTokSec), commas(r.GenTokCPU), fmtBytes(r.CacheBytes), fmtBytes(r.BytesPerStep), fmt.Sprintf("%.0f%%", 100*r.BWFraction), vs, vsc)
				}
			}
		}
	}
	return nil
}

func serveOne(c model.Config, th, B, ctx, gen int) (servingResult, error) {
	m, err := model.New[float32](c, cpu.Compute{})
	if err != nil {
		return servingResult{}, err
	}
	residentBytes(true)
	kc, err := m.NewBatchCache(B, ctx)
	if err != nil {
		return servingResult{}, err
	}
	rng := rand.New(rand.NewPCG(3, 4))
	prompt := make([]int32, ctx-gen)
	for i := range prompt {
		prompt[i] = int32(rng.IntN(c.Vocab))
	}
	prompts := make([][]int32, B)
	for b := range prompts {
		prompts[b] = prompt
	}
	t0 := time.Now()
	logits, err := m.Prefill(kc, prompts)
	if err != nil {
		return servingResult{}, err
	}
	prefill := time.Since(t0).Seconds()
	toks := make([]int32, B)
	s := model.NewSampler(0, 0, 1)
	c0 := processCPUSeconds()
	t0 = time.Now()
	for range gen {
		for b := range toks {
			toks[b] = model.Sample(s, logits[b*c.Vocab:(b+1)*c.Vocab])
		}
		if logits, err = m.DecodeBatch(kc, toks); err != nil {
			return servingResult{}, err
		}
	}
	dt := time.Since(t0).Seconds()
	cpuSec := (processCPUSeconds() - c0) / float64(th)
	// Bytes a step must read: every sequence's cache up to the mean length
	// during generation, and the weights once.
	meanLen := int64(ctx - gen + (gen+1)/2)
	perStep := int64(B)*meanLen*c.KVBytesPerToken(4) + 4*int64(m.ParamCount())
	return servingResult{Variant: c.Variant(), Threads: th, Batch: B, Context: ctx,
		PrefillTokSec: float64(len(prompt)) / prefill, GenTokSec: float64(B*gen) / dt,
		CacheBytes: kc.Bytes(), BytesPerStep: perStep, GenTokCPU: cpuTokPerSec(B*gen, cpuSec)}, nil
}

func cpuTokPerSec(tokens int, cpuSec float64) float64 {
	if cpuSec <= 0 {
		return 0
	}
	return float64(tokens) / cpuSec
}
