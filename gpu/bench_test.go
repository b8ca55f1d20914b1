//go:build cuda || cudaemu

package gpu

// Training-step benchmarks on the GPU: configs A and B of the lab, and a
// GPT-2-small-sized model, each as MHA and as MEA. They report tokens per
// second (tok/s) and milliseconds per step, with the runtime's matrix
// products (tensor cores, 3xTF32, on compute capability 8.0+) and, where
// those are tensor cores, again with the CUDA-core SGEMM ("simt");
// scripts/gpu_run.sh runs them next to gpu/bench_torch.py (PyTorch eager,
// same architecture and shapes).
//
//	go test -tags cuda ./gpu/ -run '^$' -bench Step -benchtime 20x

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mealab/mealab/model"
)

// benchConfig is one benchmarked shape; bench_torch.py has the same table.
type benchConfig struct {
	name string
	cfg  model.Config
	B, T int
}

func benchConfigs() []benchConfig {
	return []benchConfig{
		{"A", model.Config{Vocab: 256, Context: 128, Layers: 4, Width: 128, Heads: 4, Seed: 1}, 16, 128},
		{"B", model.Config{Vocab: 256, Context: 256, Layers: 6, Width: 256, Heads: 8, Seed: 1}, 8, 256},
		{"L", model.Config{Vocab: 256, Context: 1024, Layers: 12, Width: 768, Heads: 12, Seed: 1}, 8, 1024},
	}
}

func BenchmarkStep(b *testing.B) {
	if emulated {
		b.Skip("the CPU emulator is for correctness, not speed")
	}
	r, err := getRuntime()
	if err != nil {
		b.Fatal(err)
	}
	kinds := []int{r.tc}
	if r.tc != 0 {
		kinds = append(kinds, 0)
	}
	saved := r.tc
	defer func() { r.tc = saved }()
	for _, bc := range benchConfigs() {
		for _, variant := range []string{"mha", "mea"} {
			for _, kind := range kinds {
				name := map[int]string{0: "simt", 1: "tc1", 3: "tc3"}[kind]
				b.Run(fmt.Sprintf("%s_%s_%s", bc.name, variant, name), func(b *testing.B) {
					cfg := bc.cfg
					if err := cfg.ApplyVariant(variant, 0); err != nil {
						b.Fatal(err)
					}
					r.tc = kind
					benchStep(b, cfg, bc.B, bc.T)
				})
			}
		}
	}
}

func benchStep(b *testing.B, cfg model.Config, B, T int) {
	cpu, err := model.New[float32](cfg, model.Naive{})
	if err != nil {
		b.Fatal(err)
	}
	dev, err := NewModel(cfg, cpu.Params)
	if err != nil {
		b.Fatal(err)
	}
	defer dev.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	tokens, targets := randBatch(rng, B, T, cfg.Vocab, false)
	opt := model.DefaultAdamW()
	// Warm-up: allocation, JIT and first-touch costs are not timed.
	for i := 0; i < 2; i++ {
		if _, err := dev.Step(tokens, targets, B, T, 1e-3, 1, opt); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	start := time.Now()
	var st StepStats
	for i := 0; i < b.N; i++ {
		// Step returns after its metrics are back on the host, so the
		// device has finished the step: wall time is device time.
		if st, err = dev.Step(tokens, targets, B, T, 1e-3, 1, opt); err != nil {
			b.Fatal(err)
		}
	}
	el := time.Since(start)
	b.StopTimer()
	perStep := el.Seconds() / float64(b.N)
	b.ReportMetric(float64(B*T)/perStep, "tok/s")
	b.ReportMetric(perStep*1e3, "ms/step")
	b.ReportMetric(float64(cpu.Layout.Size)/1e6, "Mparams")
	b.Logf("%s: loss %.4f, grad norm %.3g, %.2f ms/step, %.0f tok/s", cfg.Variant(), st.Loss, st.GradNorm, perStep*1e3, float64(B*T)/perStep)
}
