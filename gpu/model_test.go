//go:build cuda || cudaemu

package gpu

// Model conformance: a whole forward/backward pass and several AdamW steps
// on the device against model.Model[float32] with model.Naive, for every
// attention variant. Both sides compute in float32 with different
// summation orders, so they are compared with normwise relative errors:
//
//	loss, max logit:               1e-5 relative
//	logits:                        1e-4 of the largest |logit|
//	each gradient tensor:          ||g_dev - g_cpu|| / ||g_cpu|| <= 1e-3
//	parameters after AdamW steps:  ||p_dev - p_cpu|| / ||p_cpu|| <= 1e-4
//	AdamW moments:                 normwise 1e-3

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mealab/mealab/model"
)

type variantCase struct {
	name string
	cfg  model.Config
}

func conformanceVariants() []variantCase {
	base := model.Config{Vocab: 23, Context: 12, Layers: 2, Width: 32, Heads: 4, MLP: 40, Seed: 7}
	with := func(f func(c *model.Config)) model.Config {
		c := base
		f(&c)
		return c
	}
	return []variantCase{
		{"MHA", base},
		{"GQA2", with(func(c *model.Config) { c.KVHeads = 2 })},
		{"MQA", with(func(c *model.Config) { c.KVHeads = 1 })},
		{"MHA+GN", with(func(c *model.Config) { c.GroupNorm = true })},
		{"HLC", with(func(c *model.Config) { c.HLC = true })},
		{"MEA", with(func(c *model.Config) { c.HLC, c.GroupNorm = true, true })},
		{"MEA_h'3", with(func(c *model.Config) { c.HLC, c.GroupNorm, c.KVHeads = true, true, 3 })},
		{"MEA_layerKV", with(func(c *model.Config) { c.HLC, c.GroupNorm, c.LayerKV = true, true, []int{2, 4} })},
		{"GQA_layerKV", with(func(c *model.Config) { c.LayerKV = []int{1, 2} })},
		{"MEA_theta500_L3", with(func(c *model.Config) { c.HLC, c.GroupNorm, c.Layers, c.RopeTheta = true, true, 3, 500 })},
	}
}

// perturbedModel builds a CPU model whose gains and mixing matrices are not
// at their trivial initial values and whose attention is not near-uniform.
func perturbedModel(t testing.TB, cfg model.Config) *model.Model[float32] {
	t.Helper()
	m, err := model.New[float32](cfg, model.Naive{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 99))
	for _, ti := range m.Layout.Tensors {
		p := m.Params[ti.Off : ti.Off+ti.Len]
		switch {
		case len(ti.Shape) == 1 || !ti.Decay: // gains and mixing matrices
			for i := range p {
				p[i] += float32(0.2 * rng.NormFloat64())
			}
		default:
			for i := range p {
				p[i] *= 8 // sharper attention and larger logits
			}
		}
	}
	return m
}

func randBatch(rng *rand.Rand, B, T, V int, ignore bool) (tokens, targets []int32) {
	tokens, targets = make([]int32, B*T), make([]int32, B*T)
	for i := range tokens {
		tokens[i] = int32(rng.IntN(V))
		targets[i] = int32(rng.IntN(V))
		if ignore && i%3 == 1 {
			targets[i] = -1
		}
	}
	return tokens, targets
}

func normRel(got, want []float32) float64 {
	var num, den float64
	for i := range want {
		g, w := float64(got[i]), float64(want[i])
		if math.IsNaN(g) || math.IsInf(g, 0) {
			return math.Inf(1)
		}
		num += (g - w) * (g - w)
		den += w * w
	}
	if den == 0 {
		return math.Sqrt(num)
	}
	return math.Sqrt(num / den)
}

func relScalar(got, want float64) float64 {
	return math.Abs(got-want) / math.Max(math.Abs(want), 1e-30)
}

func TestConformanceForwardBackward(t *testing.T) {
	for _, vc := range conformanceVariants() {
		for _, shape := range [][2]int{{2, 12}, {3, 7}} {
			B, T := shape[0], shape[1]
			t.Run(fmt.Sprintf("%s_B%d_T%d", vc.name, B, T), func(t *testing.T) { checkForwardBackward(t, vc.cfg, B, T) })
		}
	}
	// A longer context: more than one GEMM tile per attention matrix, and
	// enough tokens (640) that weight gradients take the split-K path.
	long := conformanceVariants()[5].cfg
	long.Context = 160
	t.Run("MEA_B4_T160", func(t *testing.T) { checkForwardBackward(t, long, 4, 160) })
	mha := conformanceVariants()[0].cfg
	mha.Context = 160
	t.Run("MHA_B4_T150", func(t *testing.T) { checkForwardBackward(t, mha, 4, 150) })

	// The other matrix-product kernels: CUDA cores where the runtime uses
	// tensor cores by default, and tensor cores (3xTF32) where it does not
	// but has them (the emulator).
	r := testRT(t)
	other := 3
	if r.tc != 0 {
		other = 0
	} else if !emulated {
		return // no tensor cores before compute capability 8.0
	}
	saved := r.tc
	r.tc = other
	defer func() { r.tc = saved }()
	for _, vi := range []int{0, 6} {
		vc := conformanceVariants()[vi]
		t.Run(fmt.Sprintf("%s_B2_T12_%s", vc.name, gemmKindName(map[int]int{0: -1, 3: 3}[other])), func(t *testing.T) {
			checkForwardBackward(t, vc.cfg, 2, 12)
		})
	}
	t.Run("MEA_B4_T160_"+gemmKindName(map[int]int{0: -1, 3: 3}[other]), func(t *testing.T) { checkForwardBackward(t, long, 4, 160) })
}

func checkForwardBackward(t *testing.T, cfg model.Config, B, T int) {
	testRT(t)
	cpu := perturbedModel(t, cfg)
	rng := rand.New(rand.NewPCG(uint64(B), uint64(T)))
	tokens, targets := randBatch(rng, B, T, cfg.Vocab, true)
	dev, err := NewModel(cfg, cpu.Params)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()

	wantLoss, err := cpu.Forward(tokens, targets, B, T)
	must(t, err)
	cpu.ZeroGrad()
	cpu.Backward(1)
	gotLoss, err := dev.Forward(tokens, targets, B, T)
	must(t, err)
	checkErr(t, "loss", relScalar(gotLoss, wantLoss), 1e-5)
	checkErr(t, "max_logit", relScalar(dev.MaxLogit(), cpu.MaxLogit), 1e-5)

	V := cfg.Vocab
	logits := make([]float32, B*T*V)
	must(t, dev.Logits(logits))
	wantLogits := make([]float64, B*T*V)
	for n := 0; n < B*T; n++ {
		for i, v := range cpu.Logits(n) {
			wantLogits[n*V+i] = float64(v)
		}
	}
	checkErr(t, "logits", relErr(logits, wantLogits, nil), 1e-4)

	must(t, dev.Backward())
	grads := make([]float32, cpu.Layout.Size)
	must(t, dev.Grads(grads))
	worst, worstName := 0.0, ""
	for _, ti := range cpu.Layout.Tensors {
		e := normRel(grads[ti.Off:ti.Off+ti.Len], cpu.Grads[ti.Off:ti.Off+ti.Len])
		if !(e <= 1e-3) {
			t.Errorf("gradient %s: normwise relative error %.3g exceeds 1e-3", ti.Name, e)
		}
		if e > worst || math.IsNaN(e) {
			worst, worstName = e, ti.Name
		}
	}
	t.Logf("loss %.6f (cpu %.6f), worst gradient %s: %.3g", gotLoss, wantLoss, worstName, worst)
}

// TestConformanceEvalNoTargets: Forward without targets leaves logits only;
// Forward with every target ignored gives loss 0 and zero gradients.
func TestConformanceEvalNoTargets(t *testing.T) {
	testRT(t)
	cfg := conformanceVariants()[5].cfg
	cpu := perturbedModel(t, cfg)
	dev, err := NewModel(cfg, cpu.Params)
	must(t, err)
	defer dev.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	tokens, _ := randBatch(rng, 2, 9, cfg.Vocab, false)
	loss, err := dev.Forward(tokens, nil, 2, 9)
	must(t, err)
	if loss != 0 {
		t.Errorf("loss without targets = %g, want 0", loss)
	}
	if _, err := cpu.Forward(tokens, nil, 2, 9); err != nil {
		t.Fatal(err)
	}
	logits := make([]float32, 2*9*cfg.Vocab)
	must(t, dev.Logits(logits))
	want := make([]float64, len(logits))
	for n := 0; n < 18; n++ {
		for i, v := range cpu.Logits(n) {
			want[n*cfg.Vocab+i] = float64(v)
		}
	}
	checkErr(t, "logits_no_targets", relErr(logits, want, nil), 1e-4)
	if err := dev.Backward(); err == nil {
		t.Error("Backward after a Forward without targets should fail")
	}
	ignored := make([]int32, 18)
	for i := range ignored {
		ignored[i] = -1
	}
	loss, err = dev.Forward(tokens, ignored, 2, 9)
	must(t, err)
	must(t, dev.Backward())
	g := make([]float32, cpu.Layout.Size)
	must(t, dev.Grads(g))
	for i, v := range g {
		if v != 0 {
			t.Fatalf("gradient %d = %g with every target ignored, want 0", i, v)
		}
	}
	if loss != 0 {
		t.Errorf("loss with every target ignored = %g, want 0", loss)
	}
	// Errors are the model package's.
	if _, err := dev.Forward(tokens, nil, 2, cfg.Context+1); err == nil {
		t.Error("a sequence longer than the context should be refused")
	}
	bad := append([]int32(nil), tokens...)
	bad[3] = int32(cfg.Vocab)
	if _, err := dev.Forward(bad, nil, 2, 9); err == nil {
		t.Error("a token outside the vocabulary should be refused")
	}
}

// TestConformanceAdamWSteps runs several full training steps (clipping
// active on some) on both sides and compares the metrics, the parameters
// and the moments.
func TestConformanceAdamWSteps(t *testing.T) {
	for _, vi := range []int{0, 5, 6} {
		vc := conformanceVariants()[vi]
		t.Run(vc.name, func(t *testing.T) {
			testRT(t)
			cpu := perturbedModel(t, vc.cfg)
			dev, err := NewModel(vc.cfg, cpu.Params)
			must(t, err)
			defer dev.Close()
			opt := model.DefaultAdamW()
			cpuOpt := model.NewAdamW[float32](opt, cpu.Layout)
			rng := rand.New(rand.NewPCG(11, 12))
			B, T := 2, 10
			for step := 0; step < 4; step++ {
				tokens, targets := randBatch(rng, B, T, vc.cfg.Vocab, step%2 == 1)
				lr := 1e-3 * float64(step+1)
				clip := []float64{0, 0.5, 1e9, 2}[step]
				wantLoss, err := cpu.Forward(tokens, targets, B, T)
				must(t, err)
				cpu.ZeroGrad()
				cpu.Backward(1)
				wantNorm := model.ClipGrads(cpu.Grads, clip)
				cpuOpt.Step(cpu.Params, cpu.Grads, lr)
				st, err := dev.Step(tokens, targets, B, T, lr, clip, opt)
				must(t, err)
				checkErr(t, fmt.Sprintf("step%d_loss", step), relScalar(st.Loss, wantLoss), 1e-5)
				checkErr(t, fmt.Sprintf("step%d_gradnorm", step), relScalar(st.GradNorm, wantNorm), 1e-4)
				checkErr(t, fmt.Sprintf("step%d_maxlogit", step), relScalar(st.MaxLogit, cpu.MaxLogit), 1e-5)
			}
			n := cpu.Layout.Size
			p, m, v := make([]float32, n), make([]float32, n), make([]float32, n)
			steps, err := dev.Download(p, m, v)
			must(t, err)
			if steps != cpuOpt.Steps {
				t.Errorf("optimiser steps %d, cpu %d", steps, cpuOpt.Steps)
			}
			checkErr(t, "params", normRel(p, cpu.Params), 1e-4)
			checkErr(t, "adam_m", normRel(m, cpuOpt.M), 1e-3)
			checkErr(t, "adam_v", normRel(v, cpuOpt.V), 1e-3)
			for _, ti := range cpu.Layout.Tensors {
				if e := normRel(p[ti.Off:ti.Off+ti.Len], cpu.Params[ti.Off:ti.Off+ti.Len]); !(e <= 1e-4) {
					t.Errorf("parameter %s: normwise relative error %.3g exceeds 1e-4", ti.Name, e)
				}
			}
		})
	}
}

// TestConformanceUploadDownload: the slabs and step count round-trip
// exactly, and nil moments upload as zeros.
func TestConformanceUploadDownload(t *testing.T) {
	testRT(t)
	cfg := conformanceVariants()[6].cfg
	cpu := perturbedModel(t, cfg)
	dev, err := NewModel(cfg, cpu.Params)
	must(t, err)
	defer dev.Close()
	n := cpu.Layout.Size
	rng := rand.New(rand.NewPCG(1, 2))
	p, m, v := randF(rng, n, 1), randF(rng, n, 1), randF(rng, n, 1)
	must(t, dev.Upload(p, m, v, 42))
	p2, m2, v2 := make([]float32, n), make([]float32, n), make([]float32, n)
	steps, err := dev.Download(p2, m2, v2)
	must(t, err)
	if steps != 42 {
		t.Errorf("steps %d, want 42", steps)
	}
	for i := 0; i < n; i++ {
		if p2[i] != p[i] || m2[i] != m[i] || v2[i] != v[i] {
			t.Fatalf("slab element %d did not round-trip", i)
		}
	}
	must(t, dev.Upload(nil, nil, nil, 0))
	_, err = dev.Download(p2, m2, nil)
	must(t, err)
	for i := 0; i < n; i++ {
		if p2[i] != p[i] || m2[i] != 0 {
			t.Fatalf("element %d: params %g (want %g), moment %g (want 0)", i, p2[i], p[i], m2[i])
		}
	}
	if _, err := NewModel(cfg, p[:n-1]); err == nil {
		t.Error("NewModel with a short slab should fail")
	}
	must(t, dev.Close())
	if _, err := dev.Forward(make([]int32, 4), nil, 1, 4); err == nil {
		t.Error("Forward after Close should fail")
	}
}

func TestConformanceDescribe(t *testing.T) {
	d := Describe()
	devs, err := Devices()
	must(t, err)
	if len(devs) == 0 {
		t.Fatal("no devices")
	}
	t.Logf("%s", d)
}
