package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/mealab/mealab/cpu"
	"github.com/mealab/mealab/model"
)

const benchUsage = `Usage: mealab bench [--config A,B] [--variants mha,mea,mea-h2] [--threads 1,2] [--peak GFLOPS] [--json]

Times whole training steps (forward, backward, AdamW) on random tokens and
decoding with the KV cache (batch 1). Useful FLOPs per token are
6 x (parameters of all matmul weights, LM head included) + 12 x layers x context x width;
efficiency is achieved GFLOP/s over --peak (for example the 1- or 2-thread
median of ../shared/bench/sgemm_peak for M2048_K128_N384).

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
	Efficiency   float64 `json:"efficiency,omitempty"` // GFLOPS / peak
	DecodeTokSec float64 `json:"decode_tok_per_sec"`
	CacheBytes   int64   `json:"cache_bytes"`
	KVPerToken   int64   `json:"kv_bytes_per_token"`
	Kernel       string  `json:"kernel"`
}

func cmdBench(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configs := fs.String("config", "A,B", "configs to run: A, B")
	variants := fs.String("variants", "mha,mea,mea-h2", "attention variants: mha, mea, mea-h2 (h'=h/2), gqa, mha+gn, hlc")
	threads := fs.String("threads", "", "thread counts to measure, e.g. 1,2 (default: all cores)")
	steps := fs.Int("steps", 5, "timed training steps per measurement (after 2 warm-up steps)")
	peak := fs.Float64("peak", 0, "roofline in GFLOP/s for the efficiency column (0: omit); with several thread counts, the peak of the largest")
	peak1 := fs.Float64("peak1", 0, "roofline for 1-thread rows (sgemm_peak's 1-thread median); default --peak")
	decodeN := fs.Int("decode", 128, "tokens to decode for the decoding measurement")
	jsonOut := fs.Bool("json", false, "print JSON lines")
	if err := parseFlags(fs, args, benchUsage, stdout); err != nil {
		return err
	}
	if *steps < 1 {
		return usagef("--steps must be at least 1")
	}
	var ths []int
	if *threads == "" {
		ths = []int{cpu.Threads()}
	} else {
		for _, s := range strings.Split(*threads, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 1 {
				return usagef("--threads %q: give positive counts like 1,2", *threads)
			}
			ths = append(ths, n)
		}
	}
	var results []benchResult
	// Fixed-width rows so each prints as soon as it is measured.
	row := "%-6s %-10s %7s %9s %9s %8s %8s %12s %9s %9s\n"
	if !*jsonOut {
		fmt.Fprintf(stdout, "mealab bench: kernel %s, %d timed steps each\n", cpu.Features(), *steps)
		fmt.Fprintf(stdout, row, "config", "variant", "threads", "step ms", "tok/s", "GFLOP/s", "of peak", "decode tok/s", "KV/token", "cache")
	}
	for _, cn := range strings.Split(*configs, ",") {
		bc, ok := benchConfigs[strings.TrimSpace(cn)]
		if !ok {
			return usagef("--config %q: use A, B or A,B", cn)
		}
		for _, vn := range strings.Split(*variants, ",") {
			c := model.Config{Vocab: 256, Context: bc.Context, Layers: bc.Layers, Width: bc.Width, Heads: bc.Heads, Seed: 1}
			vn = strings.TrimSpace(vn)
			name, kv := vn, 0
			if vn == "mea-h2" {
				name, kv = "mea", bc.Heads/2
			}
			if err := c.ApplyVariant(name, kv); err != nil {
				return usageError{err.Error()}
			}
			for _, th := range ths {
				cpu.SetThreads(th)
				r, err := benchOne(bc, c, *steps, *decodeN)
				if err != nil {
					return err
				}
				r.Threads = th
				if p := *peak; p > 0 {
					if th == 1 && *peak1 > 0 {
						p = *peak1
					}
					r.Efficiency = r.GFLOPS / p
				}
				results = append(results, r)
				if *jsonOut {
					_ = json.NewEncoder(stdout).Encode(r)
					continue
				}
				eff := "-"
				if r.Efficiency > 0 {
					eff = fmt.Sprintf("%.0f%%", 100*r.Efficiency)
				}
				fmt.Fprintf(stdout, row, r.Config, r.Variant, strconv.Itoa(th), fmt.Sprintf("%.1f", r.StepMS), commas(r.TokPerSec),
					fmt.Sprintf("%.1f", r.GFLOPS), eff, commas(r.DecodeTokSec), fmtBytes(r.KVPerToken), fmtBytes(r.CacheBytes))
			}
		}
	}
	return nil
}

// FLOPsPerToken is 6 x matmul parameters + 12 x layers x context x width.
func FLOPsPerToken(c model.Config) float64 {
	c = c.Normalized()
	l := model.NewLayout(c)
	return 6*float64(l.MatmulParams()) + 12*float64(c.Layers*c.Context*c.Width)
}

func benchOne(bc benchConfig, c model.Config, steps, decodeN int) (benchResult, error) {
	m, err := model.New[float32](c, cpu.Compute{})
	if err != nil {
		return benchResult{}, err
	}
	opt := model.NewAdamW[float32](model.DefaultAdamW(), m.Layout)
	rng := rand.New(rand.NewPCG(1, 2))
	N := bc.Batch * bc.Context
	x, y := make([]int32, N), make([]int32, N)
	for i := range x {
		x[i], y[i] = int32(rng.IntN(c.Vocab)), int32(rng.IntN(c.Vocab))
	}
	step := func() error {
		if _, err := m.Forward(x, y, bc.Batch, bc.Context); err != nil {
			return err
		}
		m.ZeroGrad()
		m.Backward(1)
		model.ClipGrads(m.Grads, 1)
		opt.Step(m.Params, m.Grads, 1e-4)
		return nil
	}
	for range 2 {
		if err := step(); err != nil {
			return benchResult{}, err
		}
	}
	t0 := time.Now()
	for range steps {
		if err := step(); err != nil {
			return benchResult{}, err
		}
	}
	dt := time.Since(t0).Seconds() / float64(steps)
	tps := float64(N) / dt
	fpt := FLOPsPerToken(c)
	r := benchResult{Config: bc.Name, Variant: c.Variant(), StepMS: dt * 1000, TokPerSec: tps, FLOPsPerTok: fpt,
		GFLOPS: fpt * tps / 1e9, Kernel: cpu.Features(), KVPerToken: c.KVBytesPerToken(4)}
	n := min(decodeN, c.Context-1)
	t0 = time.Now()
	out, kc, err := m.Generate([]int32{1}, n, model.NewSampler(0, 0, 1))
	if err != nil {
		return benchResult{}, err
	}
	r.DecodeTokSec = float64(len(out)+1) / time.Since(t0).Seconds()
	r.CacheBytes = kc.Bytes()
	return r, nil
}
