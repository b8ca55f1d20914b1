package model

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

var surgeryTokens = []int32{3, 1, 4, 1, 5, 9, 2, 6}

func logitsOf[T Float](t *testing.T, m *Model[T]) [][]float64 {
	t.Helper()
	if _, err := m.Forward(surgeryTokens, nil, 2, 4); err != nil {
		t.Fatal(err)
	}
	out := make([][]float64, 8)
	for n := range out {
		for _, v := range m.Logits(n) {
			out[n] = append(out[n], float64(v))
		}
	}
	return out
}

func maxRelDiff(a, b [][]float64) float64 {
	var worst float64
	for n := range a {
		for i := range a[n] {
			worst = max(worst, math.Abs(a[n][i]-b[n][i])/math.Max(1, math.Abs(a[n][i])))
		}
	}
	return worst
}

func applyOK[T Float](t *testing.T, m *Model[T], op Op) (*Model[T], Report) {
	t.Helper()
	nm, _, rep, err := Apply(m, nil, op)
	if err != nil {
		t.Fatalf("%v: %v", op, err)
	}
	return nm, rep
}

func TestSurgeryFunctionPreserving(t *testing.T) {
	cfgs := tinyConfigs()
	for _, tc := range []struct {
		from string
		op   Op
		want string
	}{
		{"mea_h2", Op{Kind: OpGrow, R: 4, Seed: 1}, "MEA"},
		{"mea_h2", Op{Kind: OpGrow, R: 3, Layers: []int{1}}, "MEA kv=2,3"},
		{"gqa2", Op{Kind: OpGrow, R: 4}, "HLC"},
		{"mha", Op{Kind: OpToMEA}, "HLC"},
		{"gqa2", Op{Kind: OpToMEA}, "HLC h'=2"},
		{"mha+gn", Op{Kind: OpToMEA}, "MEA"},
		{"mea_h3", Op{Kind: OpCompress, R: 3}, "MEA h'=3"}, // r = h': exact up to SVD signs
		{"mha", Op{Kind: OpCompress, R: 4}, "HLC"},
	} {
		t.Run(tc.from+"/"+tc.op.String(), func(t *testing.T) {
			m, err := New[float64](cfgs[tc.from], nil)
			if err != nil {
				t.Fatal(err)
			}
			perturb(m, 17)
			before := logitsOf(t, m)
			nm, rep := applyOK(t, m, tc.op)
			if got := nm.Cfg.Variant(); got != tc.want {
				t.Errorf("variant after: %q, want %q", got, tc.want)
			}
			if d := maxRelDiff(before, logitsOf(t, nm)); d > 1e-5 {
				t.Errorf("logits changed by %.2e relative; want a function-preserving operation (<= 1e-5)", d)
			}
			if rep.MaxErr > 1e-6 {
				t.Errorf("reported approximation error %.2e for an exact operation", rep.MaxErr)
			}
			// The input model is untouched.
			if d := maxRelDiff(before, logitsOf(t, m)); d != 0 {
				t.Errorf("Apply modified its input model (%.2e)", d)
			}
		})
	}
}

// effective returns the (d*D) x H matrix of per-head effective projections
// of layer l (kv 0: K, 1: V).
func effective[T Float](m *Model[T], l, kv int) *mat.Dense {
	c := m.Cfg
	H, d, D, g := c.Heads, c.HeadDim(), c.Width, c.KV(l)
	w := m.w.layers[l]
	comp := w[pWQKV][(H+kv*g)*d*D : (H+(kv+1)*g)*d*D]
	mix := mixMatrix(w[pWlcK+kv], g, H)
	n := d * D
	M := mat.NewDense(n, H, nil)
	for j := 0; j < H; j++ {
		for i := 0; i < g; i++ {
			for k := 0; k < n; k++ {
				M.Set(k, j, M.At(k, j)+float64(mix[i*H+j])*float64(comp[i*n+k]))
			}
		}
	}
	return M
}

func TestCompressIsEckartYoungOptimal(t *testing.T) {
	c := tinyConfigs()["mea"]
	m, _ := New[float64](c, nil)
	perturb(m, 23)
	for _, r := range []int{1, 2, 3} {
		nm, rep := applyOK(t, m, Op{Kind: OpCompress, R: r})
		if nm.Cfg.KVBytesPerToken(4) != rep.KVAfter || rep.KVAfter*4 != rep.KVBefore*int64(r) {
			t.Errorf("r=%d: KV bytes %d -> %d; want scaled by %d/4", r, rep.KVBefore, rep.KVAfter, r)
		}
		for l := 0; l < c.Layers; l++ {
			for kv, got := range []float64{rep.ErrK[l], rep.ErrV[l]} {
				M := effective(m, l, kv)
				// Singular values from the eigenvalues of M^T M, independent of the SVD used.
				var ata mat.SymDense
				ata.SymOuterK(1, M.T())
				var eig mat.EigenSym
				if !eig.Factorize(&ata, false) {
					t.Fatal("eigen decomposition failed")
				}
				ev := eig.Values(nil) // ascending
				var all, tail float64
				for i, e := range ev {
					e = math.Max(e, 0)
					all += e
					if i < len(ev)-r {
						tail += e
					}
				}
				want := math.Sqrt(tail / all)
				if math.Abs(got-want) > 1e-9 {
					t.Errorf("r=%d layer %d kv %d: reported error %.12f, Eckart-Young %.12f", r, l, kv, got, want)
				}
				// And the new model's effective projections really are that close.
				var diff mat.Dense
				diff.Sub(M, effective(nm, l, kv))
				if real := mat.Norm(&diff, 2) / mat.Norm(M, 2); math.Abs(real-want) > 1e-9 {
					t.Errorf("r=%d layer %d kv %d: measured error %.12f, want %.12f", r, l, kv, real, want)
				}
			}
		}
	}
}

func TestGQAMeanPoolExactForEqualHeads(t *testing.T) {
	c := tinyConfigs()["mha"]
	m, _ := New[float64](c, nil)
	perturb(m, 29)
	H, d, D := c.Heads, c.HeadDim(), c.Width
	// Make heads 0,1 and heads 2,3 share their K and V projections.
	for l := 0; l < c.Layers; l++ {
		w := m.w.layers[l][pWQKV]
		for _, base := range []int{H, 2 * H} {
			for _, pair := range [][2]int{{0, 1}, {2, 3}} {
				copy(w[(base+pair[1])*d*D:(base+pair[1]+1)*d*D], w[(base+pair[0])*d*D:(base+pair[0]+1)*d*D])
			}
		}
	}
	before := logitsOf(t, m)
	nm, _ := applyOK(t, m, Op{Kind: OpToGQA, R: 2})
	if nm.Cfg.Variant() != "GQA G=2" {
		t.Fatalf("variant %q", nm.Cfg.Variant())
	}
	if diff := maxRelDiff(before, logitsOf(t, nm)); diff > 1e-12 {
		t.Fatalf("mean-pooling equal heads changed logits by %.2e", diff)
	}
}

func TestSurgeryKeepsModelSound(t *testing.T) {
	cfgs := tinyConfigs()
	const B, T_ = 2, 5
	rng := rand.New(rand.NewPCG(31, 32))
	tokens, targets := make([]int32, B*T_), make([]int32, B*T_)
	for i := range tokens {
		tokens[i], targets[i] = int32(rng.IntN(11)), int32(rng.IntN(11))
	}
	for _, tc := range []struct {
		from string
		op   Op
	}{
		{"mea", Op{Kind: OpCompress, R: 2}},
		{"mea", Op{Kind: OpCompress, R: 1, Layers: []int{0}}},
		{"mea_h2", Op{Kind: OpGrow, R: 4}},
		{"mha", Op{Kind: OpToGQA, R: 2}},
		{"mha", Op{Kind: OpToMEA, GN: true}},
		{"gqa2", Op{Kind: OpCompress, R: 1}},
	} {
		t.Run(tc.from+"/"+tc.op.String(), func(t *testing.T) {
			m, _ := New[float64](cfgs[tc.from], nil)
			perturb(m, 37)
			nm, rep := applyOK(t, m, tc.op)
			// Gradients still pass the finite-difference check.
			loss := func() float64 {
				l, err := nm.Forward(tokens, targets, B, T_)
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			loss()
			nm.ZeroGrad()
			nm.Backward(1)
			fdCheck(t, "grad after "+tc.op.String(), nm.Params, append([]float64(nil), nm.Grads...), loss)
			// Cache bytes match the formula and the report.
			kc, err := nm.NewCache(nm.Cfg.Context)
			if err != nil {
				t.Fatal(err)
			}
			if kc.BytesPerToken() != nm.Cfg.KVBytesPerToken(8) || nm.Cfg.KVBytesPerToken(4) != rep.KVAfter {
				t.Errorf("cache %d B/token, formula %d (float64), report %d (float32)", kc.BytesPerToken(), nm.Cfg.KVBytesPerToken(8), rep.KVAfter)
			}
			// Cached decoding still equals the full forward pass.
			checkDecode(t, nm.Cfg, surgeryTokens, 1e-12, nm)
		})
	}
}

func TestSurgeryOptimizerPolicy(t *testing.T) {
	c := tinyConfigs()["mea"]
	m, _ := New[float32](c, nil)
	opt := NewAdamW[float32](DefaultAdamW(), m.Layout)
	for i := range opt.M {
		opt.M[i], opt.V[i] = 1, 2
	}
	opt.Steps = 77
	_, nopt, rep, err := Apply(m, opt, Op{Kind: OpCompress, R: 2, Layers: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	nm, _, _, _ := Apply(m, nil, Op{Kind: OpCompress, R: 2, Layers: []int{1}})
	if nopt.Steps != 77 {
		t.Errorf("step count %d, want 77 kept", nopt.Steps)
	}
	for _, tt := range nm.Layout.Tensors {
		mm := nopt.M[tt.Off : tt.Off+tt.Len]
		switch {
		case tt.Name == "layers.1.attention.wqkv.weight":
			q := c.Heads * c.HeadDim() * c.Width
			if mm[0] != 1 || mm[q-1] != 1 || mm[q] != 0 || mm[len(mm)-1] != 0 {
				t.Errorf("%s: Q-row moments should be kept and K/V-row moments reset", tt.Name)
			}
		case strings.HasPrefix(tt.Name, "layers.1.attention.wlc"):
			if mm[0] != 0 {
				t.Errorf("%s: moments should be reset", tt.Name)
			}
		default:
			if mm[0] != 1 || nopt.V[tt.Off] != 2 {
				t.Errorf("%s: moments should be kept", tt.Name)
			}
		}
	}
	if len(rep.Reset) != 3 {
		t.Errorf("reset list %v, want wqkv K/V rows and both mixing matrices of layer 1", rep.Reset)
	}
}

func TestSurgeryErrors(t *testing.T) {
	cfgs := tinyConfigs()
	for _, tc := range []struct {
		from string
		op   Op
		want string
	}{
		{"mea_h2", Op{Kind: OpCompress, R: 3}, "compress to 1..2"},
		{"mea_h2", Op{Kind: OpGrow, R: 5}, "grow to 2..4"},
		{"mea", Op{Kind: OpToGQA, R: 2}, "compress it with SVD"},
		{"mha", Op{Kind: OpToGQA, R: 3}, "divides it"},
		{"mea", Op{Kind: OpToMEA}, "already has head mixing"},
		{"mha", Op{Kind: OpCompress, R: 2, Layers: []int{7}}, "layer 7 does not exist"},
	} {
		m, _ := New[float32](cfgs[tc.from], nil)
		if _, _, _, err := Apply(m, nil, tc.op); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: got %v, want %q", tc.from, tc.op, err, tc.want)
		}
	}
}

func TestParseOp(t *testing.T) {
	for _, s := range []string{"compress 2", "grow 4", "gqa 2", "mea", "mea +gn", "compress 1 layers=1,2"} {
		op, err := ParseOp(s)
		if err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		if op.String() != s {
			t.Errorf("round trip %q -> %q", s, op.String())
		}
	}
	for _, s := range []string{"", "shrink 2", "compress", "compress x", "grow 2 layers=a"} {
		if _, err := ParseOp(s); err == nil {
			t.Errorf("%q parsed; want an error", s)
		}
	}
}
