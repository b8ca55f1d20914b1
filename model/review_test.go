package model_test

// Review tests for HLC with virtual heads (h' < h: per-token mixing, its
// backward over chunks of 64 tokens), the chunked gain gradients, the
// vectorised cross-entropy, the parallel gradient norms and the AdamW
// kernel: finite differences in float64 across several mixing chunks,
// float32 against float64, and bit-identity across thread counts for the
// shapes the existing tests leave out (d not a multiple of 8, h' = 1 and
// h' = 3, GroupNorm gain periods, per-layer h', a partial last chunk, the
// optimiser step).

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mealab/mealab/cpu"
	"github.com/mealab/mealab/model"
)

type rvVariant struct {
	name    string
	kv      int
	layerKV []int
}

func rvConfig(t *testing.T, v rvVariant, width, heads, ctx int) model.Config {
	t.Helper()
	c := model.Config{Vocab: 29, Context: ctx, Layers: 2, Width: width, Heads: heads, MLP: 24, Seed: 11}
	if err := c.ApplyVariant(v.name, v.kv); err != nil {
		t.Fatal(err)
	}
	c.LayerKV = v.layerKV
	return c
}

func rvTokens(seed uint64, n, vocab int) (x, y []int32) {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	x, y = make([]int32, n), make([]int32, n)
	for i := range x {
		x[i], y[i] = int32(rng.IntN(vocab)), int32(rng.IntN(vocab))
	}
	y[n/3] = -1 // an ignored position
	return x, y
}

// Finite differences in float64 through the per-token mixing with N = 2 x
// 45 = 90 tokens: two mixing chunks, the second partial, so a chunk's
// partial gradient that is dropped, doubled or taken from the wrong rows
// shows. Every entry of both mixing matrices of both layers is checked,
// and a sample of the others.
func TestReviewHLCVirtualHeadsFiniteDifferences(t *testing.T) {
	const B, T_ = 2, 45
	for _, v := range []rvVariant{{"mea", 2, nil}, {"hlc", 1, nil}, {"mea", 0, []int{3, 4}}} {
		t.Run(fmt.Sprintf("%s/kv=%d/layers=%v", v.name, v.kv, v.layerKV), func(t *testing.T) {
			c := rvConfig(t, v, 24, 4, T_) // d = 6
			m, err := model.New[float64](c, nil)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(61, 62))
			for i := range m.Params {
				m.Params[i] += rng.NormFloat64() * 0.2
			}
			x, y := rvTokens(63, B*T_, c.Vocab)
			loss := func() float64 {
				l, err := m.Forward(x, y, B, T_)
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			loss()
			m.ZeroGrad()
			m.Backward(1)
			grads := append([]float64(nil), m.Grads...)
			var idx []int
			mixing := 0
			for _, tn := range m.Layout.Tensors {
				if strings.HasSuffix(tn.Name, ".wlc_k") || strings.HasSuffix(tn.Name, ".wlc_v") {
					for i := tn.Off; i < tn.Off+tn.Len; i++ {
						idx = append(idx, i)
					}
					mixing += tn.Len
					continue
				}
				for k := 0; k < 4; k++ {
					idx = append(idx, tn.Off+rng.IntN(tn.Len))
				}
			}
			if mixing == 0 {
				t.Fatal("no mixing matrices in this config: the test checks nothing it means to")
			}
			const h = 1e-5
			bad := 0
			for _, i := range idx {
				p := m.Params[i]
				m.Params[i] = p + h
				lp := loss()
				m.Params[i] = p - h
				lm := loss()
				m.Params[i] = p
				num := (lp - lm) / (2 * h)
				if d := math.Abs(num - grads[i]); d > 1e-7+1e-5*math.Max(math.Abs(num), math.Abs(grads[i])) {
					if bad < 5 {
						t.Errorf("param %d (%s): analytic %.10g, numeric %.10g", i, tensorOf(m.Layout, i), grads[i], num)
					}
					bad++
				}
			}
			if bad > 0 {
				t.Fatalf("%d of %d checked gradient entries disagree", bad, len(idx))
			}
		})
	}
}

func tensorOf(l *model.Layout, i int) string {
	for _, tn := range l.Tensors {
		if i >= tn.Off && i < tn.Off+tn.Len {
			return tn.Name
		}
	}
	return "?"
}

// The float32 model on the cpu package's kernels (MixHeads on its vector
// path at d = 16 and its scalar path at d = 12, the chunked gain sums, the
// float32 cross-entropy) against the same model in float64: loss and
// gradients to float32 rounding, with 3 mixing chunks (150 tokens).
func TestReviewFloat32KernelsMatchFloat64(t *testing.T) {
	const B, T_ = 3, 50
	for _, v := range []rvVariant{{"mea", 2, nil}, {"hlc", 1, nil}, {"mea", 3, nil}, {"mha+gn", 0, nil}, {"mea", 0, []int{1, 4}}} {
		for _, width := range []int{48, 64} {
			name := fmt.Sprintf("%s/kv=%d/layers=%v/width=%d", v.name, v.kv, v.layerKV, width)
			c := rvConfig(t, v, width, 4, T_)
			m32, err := model.New[float32](c, fast{})
			if err != nil {
				t.Fatal(err)
			}
			m64, _ := model.New[float64](c, nil)
			rng := rand.New(rand.NewPCG(64, 65))
			for i := range m32.Params {
				m32.Params[i] += float32(rng.NormFloat64() * 0.05)
				m64.Params[i] = float64(m32.Params[i])
			}
			x, y := rvTokens(66, B*T_, c.Vocab)
			l32, err := m32.Forward(x, y, B, T_)
			if err != nil {
				t.Fatal(err)
			}
			l64, _ := m64.Forward(x, y, B, T_)
			if math.Abs(l32-l64) > 1e-5*l64 {
				t.Fatalf("%s: loss float32 %v, float64 %v", name, l32, l64)
			}
			m32.ZeroGrad()
			m64.ZeroGrad()
			m32.Backward(1)
			m64.Backward(1)
			// Per tensor 1e-3: the value-mixing gradients are sums that
			// cancel to ~1e-5 of their terms, where the float32 reference
			// (model.Naive) is off by ~1e-4 too; a chunk dropped, doubled or
			// read from the wrong rows is off by tens of percent.
			var totNum, totDen float64
			for _, tn := range m32.Layout.Tensors {
				var num, den float64
				for i := tn.Off; i < tn.Off+tn.Len; i++ {
					d := float64(m32.Grads[i]) - m64.Grads[i]
					num += d * d
					den += m64.Grads[i] * m64.Grads[i]
				}
				totNum, totDen = totNum+num, totDen+den
				if !(num <= 1e-6*den) {
					t.Fatalf("%s: %s gradient differs from float64 by %.2e (relative L2)", name, tn.Name, math.Sqrt(num/den))
				}
			}
			if !(totNum <= 1e-10*totDen) {
				t.Fatalf("%s: gradients differ from float64 by %.2e (relative L2)", name, math.Sqrt(totNum/totDen))
			}
		}
	}
}

// Loss, gradients, the clipped norm, the layer norms and the parameters
// after two AdamW steps on the kernels (Parallel as the trainer runs it)
// have the same bits on 1, 2, 3 and 4 threads, for the shapes
// TestGradsBitIdenticalAcrossThreads leaves out: d = 12 (the mixing
// kernels' scalar path), h' = 1 and 3, per-layer h', GroupNorm gains (gain
// period H, columns cut at odd places), 3 x 70 tokens (a partial chunk).
func TestReviewBitIdenticalAcrossThreads(t *testing.T) {
	old := cpu.Threads()
	defer cpu.SetThreads(old)
	const B, T_ = 3, 70
	for _, v := range []rvVariant{{"mea", 1, nil}, {"mea", 3, nil}, {"hlc", 2, nil}, {"mha+gn", 0, nil}, {"mea", 0, []int{2, 4}}} {
		for _, width := range []int{48, 64} {
			name := fmt.Sprintf("%s/kv=%d/layers=%v/width=%d", v.name, v.kv, v.layerKV, width)
			var ref []float32
			var refVals []float64
			for threads := 1; threads <= 4; threads++ {
				cpu.SetThreads(threads)
				c := rvConfig(t, v, width, 4, T_)
				m, err := model.New[float32](c, fast{})
				if err != nil {
					t.Fatal(err)
				}
				opt := model.NewAdamW[float32](model.DefaultAdamW(), m.Layout)
				opt.Parallel = m.Compute().ParallelFor
				opt.UseKernels(m.Compute())
				x, y := rvTokens(67, B*T_, c.Vocab)
				var vals []float64
				var grads []float32
				for step := 0; step < 2; step++ {
					loss, err := m.Forward(x, y, B, T_)
					if err != nil {
						t.Fatal(err)
					}
					m.ZeroGrad()
					m.Backward(1)
					grads = append(grads, m.Grads...)
					norm := m.ClipGrads(0.05)
					vals = append(vals, loss, norm)
					vals = append(vals, m.LayerGradNorms(nil)...)
					opt.Step(m.Params, m.Grads, 1e-2)
				}
				got := append(grads, m.Params...)
				if ref == nil {
					ref, refVals = got, vals
					continue
				}
				for i := range refVals {
					if math.Float64bits(vals[i]) != math.Float64bits(refVals[i]) {
						t.Fatalf("%s: loss/norm value %d is %v on %d threads, %v on 1", name, i, vals[i], threads, refVals[i])
					}
				}
				for i := range ref {
					if math.Float32bits(got[i]) != math.Float32bits(ref[i]) {
						t.Fatalf("%s: gradient/parameter %d is %v on %d threads, %v on 1", name, i, got[i], threads, ref[i])
					}
				}
			}
		}
	}
}

// A NaN logit makes the reference cross-entropy's loss NaN (its max and its
// float64 exps propagate it), also in rows whose target is another token.
// The vectorised cross-entropy (float32 exps through the backend) must not
// turn it into a finite loss: the trainer's divergence check and the
// evaluation read that loss. One row of the output projection is NaN, so
// one logit column is NaN in every row; no target is that token.
func TestReviewCrossEntropyNaNLogitGivesNaNLoss(t *testing.T) {
	const B, T_ = 2, 9
	for _, V := range []int{29, 64} {
		for _, j := range []int{0, 5, 17, V - 1} {
			c := model.Config{Vocab: V, Context: T_, Layers: 1, Width: 16, Heads: 2, Seed: 1}
			x, y := rvTokens(68, B*T_, V)
			for i := range y {
				if y[i] == int32(j) {
					y[i] = int32((j + 1) % V)
				}
			}
			for _, be := range []struct {
				name string
				c    model.Compute
			}{{"naive", model.Naive{}}, {"cpu", fast{}}} {
				m, err := model.New[float32](c, be.c)
				if err != nil {
					t.Fatal(err)
				}
				out, ok := m.Layout.Lookup("output.weight")
				if !ok {
					t.Fatal("no output.weight")
				}
				row := m.Params[out.Off+j*c.Width : out.Off+(j+1)*c.Width]
				for i := range row {
					row[i] = float32(math.NaN())
				}
				loss, err := m.Forward(x, y, B, T_)
				if err != nil {
					t.Fatal(err)
				}
				if !math.IsNaN(loss) {
					t.Errorf("V=%d, logit %d NaN, %s backend: loss %v, want NaN", V, j, be.name, loss)
				}
			}
		}
	}
}
