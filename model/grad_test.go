package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mealab/mealab/cpu"
)

// Finite-difference checks in float64. Every check uses a seeded random fake
// loss L = sum(out * dOut), perturbs each input and parameter by +-h, and
// compares (L(x+h) - L(x-h)) / 2h with the analytic gradient.
//
// Tolerance: with h = 1e-5 the central difference has truncation error
// O(h^2 * third derivative) ~ 1e-10 and rounding error ~ 1e-16 * |L| / h ~ 1e-10 for the
// O(1) losses here, so analytic and numeric gradients agree to ~1e-8
// relative on entries of any size; a wrong formula is off by O(1). We accept
// |a - n| <= 1e-7 + 1e-6 * max(|a|, |n|), which is loose against rounding and
// tight against any real bug.
const (
	fdStep = 1e-5
	fdAtol = 1e-7
	fdRtol = 1e-6
)

func randSlice(rng *rand.Rand, n int, scale float64) []float64 {
	s := make([]float64, n)
	for i := range s {
		s[i] = rng.NormFloat64() * scale
	}
	return s
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// fdCheck compares analytic with the central difference of loss() over x
// and returns the largest relative error among entries with a gradient of
// at least 1e-6 (smaller ones are held to the absolute tolerance).
func fdCheck(t *testing.T, name string, x, analytic []float64, loss func() float64) float64 {
	t.Helper()
	var worst float64
	bad := 0
	for i := range x {
		orig := x[i]
		x[i] = orig + fdStep
		lp := loss()
		x[i] = orig - fdStep
		lm := loss()
		x[i] = orig
		num := (lp - lm) / (2 * fdStep)
		a := analytic[i]
		diff := math.Abs(a - num)
		scale := math.Max(math.Abs(a), math.Abs(num))
		if diff > fdAtol+fdRtol*scale {
			if bad < 5 {
				t.Errorf("%s[%d]: analytic %.10g, numeric %.10g", name, i, a, num)
			}
			bad++
		}
		if scale >= 1e-6 {
			worst = math.Max(worst, diff/scale)
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d gradient entries disagree", name, bad, len(x))
	}
	return worst
}

func TestRMSNormGrad(t *testing.T) {
	for _, tc := range []struct{ R, dim, P int }{{5, 8, 1}, {12, 4, 3}} {
		t.Run(fmt.Sprintf("R%d_dim%d_P%d", tc.R, tc.dim, tc.P), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			x := randSlice(rng, tc.R*tc.dim, 1)
			g := randSlice(rng, tc.P*tc.dim, 1)
			dout := randSlice(rng, tc.R*tc.dim, 1)
			out, rstd := make([]float64, len(x)), make([]float64, tc.R)
			loss := func() float64 {
				rmsnormForward(out, rstd, x, g, tc.R, tc.dim, tc.P)
				return dot(out, dout)
			}
			loss()
			dx, dg := make([]float64, len(x)), make([]float64, len(g))
			rmsnormBackward(dx, dg, dout, x, g, rstd, tc.R, tc.dim, tc.P)
			fdCheck(t, "dx", x, dx, loss)
			fdCheck(t, "dgain", g, dg, loss)
		})
	}
}

func TestRoPEGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const N, T_, d, heads, ld = 6, 3, 8, 3, 3*8 + 5
	cos, sin := ropeTable[float64](T_, d, 10000)
	x := randSlice(rng, N*ld, 1)
	dout := randSlice(rng, N*ld, 1)
	y := make([]float64, len(x))
	loss := func() float64 {
		copy(y, x)
		ropeForward(y, N, T_, ld, 1, heads, d, 0, cos, sin)
		return dot(y, dout)
	}
	dx := append([]float64(nil), dout...)
	ropeBackward(dx, N, T_, ld, 1, heads, d, 0, cos, sin)
	fdCheck(t, "dx", x, dx, loss)
}

func TestMixGrad(t *testing.T) {
	for _, tc := range []struct {
		name    string
		G, H    int
		learned bool
	}{{"hlc_square", 4, 4, true}, {"hlc_virtual", 2, 5, true}, {"gqa", 2, 4, false}, {"mqa", 1, 3, false}} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(5, 6))
			const N, d, off = 3, 4, 2
			ld := off + tc.G*d + 3
			in := randSlice(rng, N*ld, 1)
			var W []float64
			if tc.learned {
				W = randSlice(rng, tc.G*tc.H, 1)
			}
			dout := randSlice(rng, N*tc.H*d, 1)
			out := make([]float64, N*tc.H*d)
			loss := func() float64 {
				mixForward(out, in, W, N, ld, off, tc.G, tc.H, d)
				return dot(out, dout)
			}
			din := make([]float64, len(in))
			var dW []float64
			if W != nil {
				dW = make([]float64, len(W))
			}
			mixBackward(din, dW, dout, in, W, N, ld, off, tc.G, tc.H, d)
			fdCheck(t, "din", in, din, loss)
			if W != nil {
				fdCheck(t, "dW", W, dW, loss)
			}
		})
	}
}

func TestAttentionGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const B, T_, H, d = 2, 5, 3, 4
	ldq := 2*H*d + 1
	qkv := randSlice(rng, B*T_*ldq, 1)
	k := randSlice(rng, B*T_*H*d, 1)
	v := randSlice(rng, B*T_*H*d, 1)
	dout := randSlice(rng, B*T_*H*d, 1)
	out := make([]float64, B*T_*H*d)
	att := make([]float64, B*H*T_*T_)
	loss := func() float64 {
		attnForward(out, att, qkv, ldq, k, v, 0, B*H, T_, H, d)
		return dot(out, dout)
	}
	loss()
	dqkv := make([]float64, len(qkv))
	dk, dv := make([]float64, len(k)), make([]float64, len(v))
	attnBackward(dqkv, dk, dv, dout, att, qkv, ldq, k, v, make([]float64, B*H*T_), 0, B*H, T_, H, d)
	// Only the query columns [0, H*d) of qkv are read; the rest must have zero gradient.
	fdCheck(t, "dq", qkv, dqkv, loss)
	fdCheck(t, "dk", k, dk, loss)
	fdCheck(t, "dv", v, dv, loss)
}

func TestSwiGLUGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const N, F = 4, 6
	ab := randSlice(rng, N*2*F, 2)
	dh := randSlice(rng, N*F, 1)
	h, sig := make([]float64, N*F), make([]float64, N*F)
	loss := func() float64 { swigluForward(h, sig, ab, N, F); return dot(h, dh) }
	loss()
	dab := make([]float64, len(ab))
	swigluBackward(dab, dh, ab, sig, N, F)
	fdCheck(t, "dab", ab, dab, loss)
}

func TestCrossEntropyGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const N, V = 5, 7
	logits := randSlice(rng, N*V, 3)
	targets := []int32{3, -1, 0, 6, 2}
	lse := make([]float64, N)
	loss := func() float64 {
		s, c := crossEntropyForward(lse, logits, targets, N, V)
		return s / float64(c)
	}
	loss()
	d := make([]float64, len(logits))
	crossEntropyBackward(d, logits, lse, targets, N, V, 1.0/4)
	fdCheck(t, "dlogits", logits, d, loss)
}

func TestEmbedGrad(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	const V, D = 5, 3
	emb := randSlice(rng, V*D, 1)
	tokens := []int32{1, 4, 1, 0}
	dout := randSlice(rng, len(tokens)*D, 1)
	out := make([]float64, len(tokens)*D)
	loss := func() float64 { embedForward(out, tokens, emb, D); return dot(out, dout) }
	demb := make([]float64, len(emb))
	embedBackward(demb, dout, tokens, D)
	fdCheck(t, "demb", emb, demb, loss)
}

// tinyConfigs is one tiny config per attention variant of the spec's
// ablation table.
func tinyConfigs() map[string]Config {
	base := Config{Vocab: 11, Context: 8, Layers: 2, Width: 16, Heads: 4, MLP: 12, Seed: 1}
	out := map[string]Config{}
	for _, v := range []struct {
		name, variant string
		kv            int
	}{
		{"mha", "mha", 0}, {"gqa2", "gqa", 2}, {"mqa", "mqa", 0}, {"mha+gn", "mha+gn", 0},
		{"hlc", "hlc", 0}, {"mea", "mea", 0}, {"mea_h2", "mea", 2}, {"mea_h3", "mea", 3}, {"hlc_h1", "hlc", 1},
	} {
		c := base
		if err := c.ApplyVariant(v.variant, v.kv); err != nil {
			panic(err)
		}
		out[v.name] = c
	}
	// Per-layer KV heads, as left by surgery on chosen layers.
	mixed := base
	_ = mixed.ApplyVariant("mea", 0)
	mixed.LayerKV = []int{4, 2}
	out["mea_layers"] = mixed
	gqaMixed := base
	_ = gqaMixed.ApplyVariant("gqa", 2)
	gqaMixed.LayerKV = []int{1, 4}
	out["gqa_layers"] = gqaMixed
	return out
}

// perturb moves every parameter off its initial value, so that unit gains
// and identity mixing do not hide errors in their gradients.
func perturb[T Float](m *Model[T], seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	for _, t := range m.Layout.Tensors {
		p := m.Params[t.Off : t.Off+t.Len]
		for i := range p {
			switch {
			case len(t.Shape) == 1 || isMixing(t.Name):
				p[i] += T(rng.NormFloat64() * 0.3)
			default:
				p[i] = T(rng.NormFloat64() * 0.3)
			}
		}
	}
}

func TestModelGradAllVariants(t *testing.T) {
	const B, T_ = 2, 6
	rng := rand.New(rand.NewPCG(21, 22))
	tokens := make([]int32, B*T_)
	targets := make([]int32, B*T_)
	for i := range tokens {
		tokens[i] = int32(rng.IntN(11))
		targets[i] = int32(rng.IntN(11))
	}
	targets[3] = -1 // an ignored position
	for name, c := range tinyConfigs() {
		t.Run(name, func(t *testing.T) {
			m, err := New[float64](c, nil)
			if err != nil {
				t.Fatal(err)
			}
			perturb(m, 5)
			loss := func() float64 {
				l, err := m.Forward(tokens, targets, B, T_)
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			loss()
			m.ZeroGrad()
			m.Backward(1)
			analytic := append([]float64(nil), m.Grads...)
			worst := fdCheck(t, name, m.Params, analytic, loss)
			t.Logf("%-8s %-10s params %5d  max rel err %.2e", name, c.Variant(), m.ParamCount(), worst)
		})
	}
}

// TestAttentionTiledMatchesReference checks the fused, tiled attention (the
// one the model runs) against the reference loops, forward and backward, in
// float64 with the reference exp and in float32 with the cpu package's
// assembly exp, at lengths that end inside a tile and span several.
func TestAttentionTiledMatchesReference(t *testing.T) {
	for _, T_ := range []int{1, 7, attnTile, attnTile + 1, 2*attnTile + 5} {
		checkTiled[float64](t, T_, pickVec[float64](Naive{}), GemmRef[float64], 1e-12)
		checkTiled[float32](t, T_, pickVec[float32](cpu.Compute{}), cpu.Compute{}.Sgemm, 2e-5)
	}
}

func checkTiled[T Float](t *testing.T, T_ int, vec vecOps[T], gemm gemmFunc[T], tol float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(41, uint64(T_)))
	const B, H, d = 2, 3, 8
	ldq, ldk := 2*H*d+3, H*d+1
	conv := func(x []float64) []T {
		y := make([]T, len(x))
		for i, v := range x {
			y[i] = T(v)
		}
		return y
	}
	qkv := conv(randSlice(rng, B*T_*ldq, 1))
	k := conv(randSlice(rng, B*T_*ldk, 1))
	v := conv(randSlice(rng, B*T_*ldk, 1))
	dout := conv(randSlice(rng, B*T_*H*d, 1))
	// The reference reads keys and values of stride H*d.
	kr, vr := make([]T, B*T_*H*d), make([]T, B*T_*H*d)
	for n := 0; n < B*T_; n++ {
		copy(kr[n*H*d:(n+1)*H*d], k[n*ldk:])
		copy(vr[n*H*d:(n+1)*H*d], v[n*ldk:])
	}
	o1, o2 := make([]T, B*T_*H*d), make([]T, B*T_*H*d)
	att := make([]T, B*H*T_*T_)
	lse, scr := make([]T, B*H*T_), make([]T, B*H*attnScratch(T_))
	m1 := attnForward(o1, att, qkv, ldq, kr, vr, 0, B*H, T_, H, d)
	m2 := attnForwardTiled(gemm, vec, o2, lse, scr, qkv, ldq, k, v, ldk, 0, B*H, T_, H, d)
	if math.Abs(m1-m2) > tol*max(1, m1) {
		t.Errorf("T %d: max logit %v vs %v", T_, m1, m2)
	}
	closeAll := func(name string, x, y []T, stride, width int) {
		t.Helper()
		for i := range x {
			if stride > 0 && i%stride >= width {
				continue
			}
			if math.Abs(float64(x[i]-y[i])) > tol*(1+math.Abs(float64(x[i]))) {
				t.Fatalf("T %d: %s[%d]: reference %v, tiled %v", T_, name, i, x[i], y[i])
			}
		}
	}
	closeAll("out", o1, o2, 0, 0)
	dq1, dq2 := make([]T, len(qkv)), make([]T, len(qkv))
	dk1, dv1 := make([]T, len(kr)), make([]T, len(vr))
	dk2, dv2 := make([]T, len(k)), make([]T, len(v))
	attnBackward(dq1, dk1, dv1, dout, att, qkv, ldq, kr, vr, make([]T, B*H*T_), 0, B*H, T_, H, d)
	attnBackwardTiled(gemm, vec, dq2, dk2, dv2, dout, o2, lse, scr, qkv, ldq, k, v, ldk, 0, B*H, T_, H, d)
	closeAll("dq", dq1, dq2, ldq, H*d)
	for n := 0; n < B*T_; n++ {
		closeAll("dk", dk1[n*H*d:(n+1)*H*d], dk2[n*ldk:n*ldk+H*d], 0, 0)
		closeAll("dv", dv1[n*H*d:(n+1)*H*d], dv2[n*ldk:n*ldk+H*d], 0, 0)
	}
}

// TestSplitKernelsMatchReference checks the row/column-split fast paths
// against the reference kernels, with uneven chunks.
func TestSplitKernelsMatchReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	const R, dim, P = 12, 5, 3
	x := randSlice(rng, R*dim, 1)
	g := randSlice(rng, P*dim, 1)
	dout := randSlice(rng, R*dim, 1)
	out, rstd := make([]float64, R*dim), make([]float64, R)
	rmsnormForward(out, rstd, x, g, R, dim, P)
	dx1, dg1 := make([]float64, R*dim), make([]float64, P*dim)
	rmsnormBackward(dx1, dg1, dout, x, g, rstd, R, dim, P)
	dx2, dg2 := make([]float64, R*dim), make([]float64, P*dim)
	for _, c := range [][2]int{{0, 3}, {3, 7}, {7, 12}} { // chunk starts are multiples of P, as ParallelFor over N*H gives for whole tokens
		lo, hi := c[0], c[1]
		if lo%P != 0 {
			continue
		}
		rmsnormBackwardRows(dx2[lo*dim:], dout[lo*dim:], x[lo*dim:], g, rstd[lo:], hi-lo, dim, P, false)
	}
	rmsnormBackwardRows(dx2[3*dim:], dout[3*dim:], x[3*dim:], g, rstd[3:], 9, dim, P, false)
	acc := make([]float64, P*dim)
	for _, c := range [][2]int{{0, 4}, {4, 11}, {11, 15}} {
		rmsnormGainGrad(dg2, dout, x, rstd, acc, R, dim, P, c[0], c[1])
	}
	for i := range dx1 {
		if math.Abs(dx1[i]-dx2[i]) > 1e-12 {
			t.Fatalf("dx[%d]: %v vs %v", i, dx1[i], dx2[i])
		}
	}
	for i := range dg1 {
		if math.Abs(dg1[i]-dg2[i]) > 1e-12 {
			t.Fatalf("dgain[%d]: %v vs %v", i, dg1[i], dg2[i])
		}
	}
	// The fast rows (partial sums in the model's precision), with and
	// without accumulation, in float64 and float32.
	out3, rstd3, dx3 := make([]float64, R*dim), make([]float64, R), make([]float64, R*dim)
	rmsnormRowsFast(out3, rstd3, x, g, R, dim, P)
	rmsnormBackwardRowsFast(dx3, dout, x, g, rstd3, R, dim, P, false)
	rmsnormBackwardRowsFast(dx3, dout, x, g, rstd3, R, dim, P, true)
	for i := range out {
		if math.Abs(out[i]-out3[i]) > 1e-12 || math.Abs(2*dx1[i]-dx3[i]) > 1e-12 {
			t.Fatalf("fast rows [%d]: out %v vs %v, 2dx %v vs %v", i, out[i], out3[i], 2*dx1[i], dx3[i])
		}
	}
	x32, g32, d32 := make([]float32, len(x)), make([]float32, len(g)), make([]float32, len(dout))
	for i := range x {
		x32[i], d32[i] = float32(x[i]), float32(dout[i])
	}
	for i := range g {
		g32[i] = float32(g[i])
	}
	o32, r32, dx32 := make([]float32, R*dim), make([]float32, R), make([]float32, R*dim)
	rmsnormRowsFast(o32, r32, x32, g32, R, dim, P)
	rmsnormBackwardRowsFast(dx32, d32, x32, g32, r32, R, dim, P, false)
	for i := range out {
		if math.Abs(out[i]-float64(o32[i])) > 1e-5*(1+math.Abs(out[i])) || math.Abs(dx1[i]-float64(dx32[i])) > 1e-5*(1+math.Abs(dx1[i])) {
			t.Fatalf("float32 fast rows [%d]: out %v vs %v, dx %v vs %v", i, out[i], o32[i], dx1[i], dx32[i])
		}
	}
	const N, G, H, d, off = 4, 2, 3, 4, 1
	ld := off + G*d + 2
	in := randSlice(rng, N*ld, 1)
	W := randSlice(rng, G*H, 1)
	dmix := randSlice(rng, N*H*d, 1)
	din, dW1 := make([]float64, len(in)), make([]float64, G*H)
	mixBackward(din, dW1, dmix, in, W, N, ld, off, G, H, d)
	dW2 := make([]float64, G*H)
	mixGradW(dW2, dmix, in, N, ld, off, G, H, d, 0, 2)
	mixGradW(dW2, dmix, in, N, ld, off, G, H, d, 2, G*H)
	for i := range dW1 {
		if math.Abs(dW1[i]-dW2[i]) > 1e-12 {
			t.Fatalf("dW[%d]: %v vs %v", i, dW1[i], dW2[i])
		}
	}
}
