package model_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/mealab/mealab/cpu"
	"github.com/mealab/mealab/model"
)

// fast is the cpu package as a model.Compute.
type fast = cpu.Compute

type benchCfg struct {
	name                      string
	layers, width, heads, ctx int
	batch                     int
}

var benchCfgs = []benchCfg{{"A", 4, 128, 4, 128, 16}, {"B", 6, 256, 8, 256, 8}}

// BenchmarkTrainStep times forward, backward and AdamW for the CPU-speed
// issue's configs A and B, for MHA, MEA and MEA with h' = h/2.
func BenchmarkTrainStep(b *testing.B) {
	for _, bc := range benchCfgs {
		for _, v := range []struct {
			name string
			kv   int
		}{{"mha", 0}, {"mea", 0}, {"mea", bc.heads / 2}} {
			c := model.Config{Vocab: 256, Context: bc.ctx, Layers: bc.layers, Width: bc.width, Heads: bc.heads, Seed: 1}
			if err := c.ApplyVariant(v.name, v.kv); err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("%s/%s", bc.name, c.Variant()), func(b *testing.B) {
				m, err := model.New[float32](c, fast{})
				if err != nil {
					b.Fatal(err)
				}
				opt := model.NewAdamW[float32](model.DefaultAdamW(), m.Layout)
				opt.Parallel = fast{}.ParallelFor // as the trainer runs it
				opt.UseKernels(fast{})
				rng := rand.New(rand.NewPCG(1, 1))
				N := bc.batch * bc.ctx
				x, y := make([]int32, N), make([]int32, N)
				for i := range x {
					x[i], y[i] = int32(rng.IntN(256)), int32(rng.IntN(256))
				}
				step := func() {
					if _, err := m.Forward(x, y, bc.batch, bc.ctx); err != nil {
						b.Fatal(err)
					}
					m.ZeroGrad()
					m.Backward(1)
					opt.Step(m.Params, m.Grads, 1e-4)
				}
				step()
				b.ResetTimer()
				for range b.N {
					step()
				}
				sec := b.Elapsed().Seconds() / float64(b.N)
				l := model.NewLayout(c.Normalized())
				fpt := 6*float64(l.MatmulParams()) + 12*float64(bc.layers*bc.ctx*bc.width)
				b.ReportMetric(float64(N)/sec, "tok/s")
				b.ReportMetric(fpt*float64(N)/sec/1e9, "GFLOP/s")
			})
		}
	}
}

// TestFastBackendMatchesNaive runs a training step with the cpu package's
// kernels and with the naive reference and compares loss and gradients.
func TestFastBackendMatchesNaive(t *testing.T) { checkFastMatchesNaive(t, 3, 37) }

func checkFastMatchesNaive(t *testing.T, B, T int) {
	t.Helper()
	for _, vk := range []struct {
		name string
		kv   int
	}{{"mha", 0}, {"mea", 0}, {"gqa", 0}, {"mha+gn", 0}, {"mea", 2}, {"hlc", 1}} {
		// d = 12 and 32: the head-mixing kernels' scalar and vector paths.
		for _, width := range []int{48, 128} {
			v := fmt.Sprintf("%s/kv=%d/width=%d", vk.name, vk.kv, width)
			c := model.Config{Vocab: 61, Context: T, Layers: 2, Width: width, Heads: 4, Seed: 5}
			if err := c.ApplyVariant(vk.name, vk.kv); err != nil {
				t.Fatal(err)
			}
			mf, _ := model.New[float32](c, fast{})
			mn, _ := model.New[float32](c, model.Naive{})
			rng := rand.New(rand.NewPCG(3, 3))
			// Move norm gains and mixing off their initial values, so that a
			// kernel using the wrong head's gain or weight cannot pass.
			for i := range mf.Params {
				mf.Params[i] += float32(rng.NormFloat64() * 0.05)
				mn.Params[i] = mf.Params[i]
			}
			x, y := make([]int32, B*T), make([]int32, B*T)
			for i := range x {
				x[i], y[i] = int32(rng.IntN(61)), int32(rng.IntN(61))
			}
			lf, _ := mf.Forward(x, y, B, T)
			ln, _ := mn.Forward(x, y, B, T)
			if d := lf - ln; d > 1e-5 || d < -1e-5 {
				t.Fatalf("%s: loss fast %v, naive %v", v, lf, ln)
			}
			mf.Backward(1)
			mn.Backward(1)
			var num, den float64
			for i := range mn.Grads {
				d := float64(mf.Grads[i] - mn.Grads[i])
				num += d * d
				den += float64(mn.Grads[i]) * float64(mn.Grads[i])
			}
			// float32 sums in a different order: ~1e-6 relative is rounding.
			if num/den > 1e-10 {
				t.Fatalf("%s: gradients differ by %.2e (relative L2)", v, num/den)
			}
		}
	}
}

// TestOddThreadCountMatchesNaive runs the fast path with 3 threads, so that
// chunks cut the rows at places that are not multiples of the head count
// (the per-head GroupNorm must still use each head's own gain).
func TestOddThreadCountMatchesNaive(t *testing.T) {
	old := cpu.Threads()
	cpu.SetThreads(3)
	defer cpu.SetThreads(old)
	// 2 x 55 tokens x 4 heads = 440 head rows; thirds start at rows 146
	// and 293, which are not multiples of 4.
	checkFastMatchesNaive(t, 2, 55)
}

// TestTrainingStepAllocatesNothing checks the steady-state step: forward,
// backward and a parallel AdamW update.
func TestTrainingStepAllocatesNothing(t *testing.T) {
	for _, v := range []string{"mha", "gqa", "mea"} {
		c := model.Config{Vocab: 64, Context: 32, Layers: 2, Width: 64, Heads: 4, Seed: 1}
		_ = c.ApplyVariant(v, 2)
		m, _ := model.New[float32](c, fast{})
		opt := model.NewAdamW[float32](model.DefaultAdamW(), m.Layout)
		opt.Parallel = fast{}.ParallelFor
		opt.UseKernels(fast{})
		x, y := make([]int32, 4*32), make([]int32, 4*32)
		step := func() {
			if _, err := m.Forward(x, y, 4, 32); err != nil {
				t.Fatal(err)
			}
			m.ZeroGrad()
			m.Backward(1)
			m.ClipGrads(1)
			opt.Step(m.Params, m.Grads, 1e-3)
		}
		step()
		if n := testing.AllocsPerRun(5, step); n != 0 {
			t.Errorf("%s: %v allocations per training step, want 0", v, n)
		}
	}
}

// BenchmarkDecodeBatch times batched decoding steps at serving shapes
// (config B's layers, width and heads) with a prefilled cache, for profiles
// of the decoding path: go test -bench DecodeBatch -cpuprofile ...
func BenchmarkDecodeBatch(b *testing.B) {
	for _, s := range []struct{ batch, ctx int }{{1, 1024}, {32, 1024}, {8, 4096}} {
		for _, v := range []struct {
			name string
			kv   int
		}{{"mha", 0}, {"mea", 4}} {
			c := model.Config{Vocab: 256, Context: s.ctx, Layers: 6, Width: 256, Heads: 8, Seed: 1}
			if err := c.ApplyVariant(v.name, v.kv); err != nil {
				b.Fatal(err)
			}
			b.Run(fmt.Sprintf("B%d/T%d/%s", s.batch, s.ctx, c.Variant()), func(b *testing.B) {
				m, _ := model.New[float32](c, fast{})
				kc, err := m.NewBatchCache(s.batch, s.ctx)
				if err != nil {
					b.Fatal(err)
				}
				prompt := make([]int32, s.ctx/2)
				prompts := make([][]int32, s.batch)
				for i := range prompts {
					prompts[i] = prompt
				}
				if _, err := m.Prefill(kc, prompts); err != nil {
					b.Fatal(err)
				}
				toks := make([]int32, s.batch)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if kc.Len == kc.Cap {
						kc.Len = s.ctx / 2
					}
					if _, err := m.DecodeBatch(kc, toks); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(s.batch*b.N)/b.Elapsed().Seconds(), "tok/s")
			})
		}
	}
}

// TestGradsBitIdenticalAcrossThreads: the fast path's loss and gradients
// have the same bits on 1, 2 and 3 threads (the mixing-matrix and gain
// gradients are summed in fixed chunks, never per thread), for the
// variants whose reductions differ: MHA, MEA, MEA with virtual heads.
func TestGradsBitIdenticalAcrossThreads(t *testing.T) {
	old := cpu.Threads()
	defer cpu.SetThreads(old)
	for _, vk := range []struct {
		name string
		kv   int
	}{{"mha", 0}, {"mea", 0}, {"mea", 2}} {
		var ref []float32
		var refLoss, refNorm float64
		var refLayers []float64
		for _, threads := range []int{1, 2, 3} {
			cpu.SetThreads(threads)
			c := model.Config{Vocab: 61, Context: 40, Layers: 2, Width: 128, Heads: 4, Seed: 9}
			if err := c.ApplyVariant(vk.name, vk.kv); err != nil {
				t.Fatal(err)
			}
			m, _ := model.New[float32](c, fast{})
			rng := rand.New(rand.NewPCG(4, 4))
			x, y := make([]int32, 5*40), make([]int32, 5*40)
			for i := range x {
				x[i], y[i] = int32(rng.IntN(61)), int32(rng.IntN(61))
			}
			loss, _ := m.Forward(x, y, 5, 40)
			m.Backward(1)
			// The parallel clipping's norm and scaled gradients too; the
			// layer norms share its sums.
			norm := m.ClipGrads(0.01)
			if norm <= 0.01 {
				t.Fatalf("norm %v: the test needs clipping to act", norm)
			}
			layers := m.LayerGradNorms(nil)
			if ref == nil {
				ref, refLoss, refNorm, refLayers = append([]float32(nil), m.Grads...), loss, norm, layers
				continue
			}
			if norm != refNorm || !slices.Equal(layers, refLayers) {
				t.Fatalf("%s kv=%d: norm %v and layer norms %v on %d threads, %v and %v on 1", vk.name, vk.kv, norm, layers, threads, refNorm, refLayers)
			}
			if loss != refLoss {
				t.Fatalf("%s kv=%d: loss %v on %d threads, %v on 1", vk.name, vk.kv, loss, threads, refLoss)
			}
			for i, g := range m.Grads {
				if g != ref[i] {
					t.Fatalf("%s kv=%d: gradient %d is %v on %d threads, %v on 1", vk.name, vk.kv, i, g, threads, ref[i])
				}
			}
		}
	}
}

// TestAdamWKernelMatchesLoop: the cpu package's float32 AdamW update
// (UseKernels) follows the float64 loop to rounding over ten steps, with
// weight decay on some tensors and not on others.
func TestAdamWKernelMatchesLoop(t *testing.T) {
	c := model.Config{Vocab: 61, Context: 16, Layers: 2, Width: 64, Heads: 4, Seed: 3}
	_ = c.ApplyVariant("mea", 2)
	m, _ := model.New[float32](c, fast{})
	a := model.NewAdamW[float32](model.DefaultAdamW(), m.Layout)
	b := model.NewAdamW[float32](model.DefaultAdamW(), m.Layout)
	a.UseKernels(fast{})
	pa, pb := append([]float32(nil), m.Params...), append([]float32(nil), m.Params...)
	rng := rand.New(rand.NewPCG(6, 6))
	g := make([]float32, len(pa))
	for range 10 {
		for i := range g {
			g[i] = float32(rng.NormFloat64() * 0.01)
		}
		a.Step(pa, g, 3e-3)
		b.Step(pb, g, 3e-3)
	}
	for i := range pa {
		if d := float64(pa[i] - pb[i]); d > 1e-6 || d < -1e-6 {
			t.Fatalf("param %d: kernel %v, loop %v", i, pa[i], pb[i])
		}
	}
}

// TestClipGradsMatchesFunction: the model's parallel ClipGrads gives the
// norm model.ClipGrads gives (to float64 rounding: the sums are chunked)
// and the same scaled gradients; LayerGradNorms agrees with a direct sum.
func TestClipGradsMatchesFunction(t *testing.T) {
	c := model.Config{Vocab: 61, Context: 16, Layers: 3, Width: 64, Heads: 4, Seed: 3}
	_ = c.ApplyVariant("mea", 2)
	m, _ := model.New[float32](c, fast{})
	rng := rand.New(rand.NewPCG(8, 8))
	for i := range m.Grads {
		m.Grads[i] = float32(rng.NormFloat64())
	}
	g := append([]float32(nil), m.Grads...)
	want := model.ClipGrads(g, 3)
	layers := m.LayerGradNorms(nil)
	got := m.ClipGrads(3)
	if math.Abs(got-want) > 1e-12*want {
		t.Fatalf("norm %v, want %v", got, want)
	}
	for i := range g {
		if d := math.Abs(float64(g[i] - m.Grads[i])); d > 1e-6*math.Abs(float64(g[i])) {
			t.Fatalf("grad %d: %v, want %v", i, m.Grads[i], g[i])
		}
	}
	var total float64
	for _, tn := range m.Layout.Tensors {
		if !strings.HasPrefix(tn.Name, "layers.1.") {
			continue
		}
		for _, v := range g[tn.Off : tn.Off+tn.Len] {
			v /= float32(3 / want) // undo the clipping
			total += float64(v) * float64(v)
		}
	}
	if l1 := layers[1]; math.Abs(l1-math.Sqrt(total)) > 1e-5*l1 {
		t.Fatalf("layer 1 norm %v, want %v", l1, math.Sqrt(total))
	}
}
