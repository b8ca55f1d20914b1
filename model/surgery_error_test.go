package model

import (
	"math"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// measuredErr is ||eff(after) - eff(before)|| / ||eff(before)|| for layer
// l (kv 0: K, 1: V), computed with gonum from the two models' weights.
func measuredErr[T Float](before, after *Model[T], l, kv int) float64 {
	M := effective(before, l, kv)
	var diff mat.Dense
	diff.Sub(M, effective(after, l, kv))
	return mat.Norm(&diff, 2) / mat.Norm(M, 2)
}

// Every operation reports, per layer and for K and V separately, the error
// its new weights really have; gqa used to report none.
func TestSurgeryReportsRealisedErrorPerLayer(t *testing.T) {
	cfgs := tinyConfigs()
	for _, tc := range []struct {
		from    string
		op      Op
		changes bool // the effective projections change (error > 0)
	}{
		{"mha", Op{Kind: OpToGQA, R: 2}, true},
		{"mha", Op{Kind: OpToGQA, R: 1, Layers: []int{1}}, true},
		{"gqa_layers", Op{Kind: OpToGQA, R: 1, Layers: []int{1}}, true},
		{"mea", Op{Kind: OpCompress, R: 2}, true},
		{"mha", Op{Kind: OpCompress, R: 1, Layers: []int{0}}, true},
		{"mea_h2", Op{Kind: OpGrow, R: 4, Seed: 3}, false},
		{"mha", Op{Kind: OpToMEA}, false},
		{"mha", Op{Kind: OpToMEA, GN: true}, false},
	} {
		t.Run(tc.from+"/"+tc.op.String(), func(t *testing.T) {
			m, err := New[float64](cfgs[tc.from], nil)
			if err != nil {
				t.Fatal(err)
			}
			perturb(m, 31)
			nm, rep := applyOK(t, m, tc.op)
			if len(rep.ErrK) != m.Cfg.Layers || len(rep.ErrV) != m.Cfg.Layers {
				t.Fatalf("errors for %d/%d layers, want %d", len(rep.ErrK), len(rep.ErrV), m.Cfg.Layers)
			}
			touched := map[int]bool{}
			for _, l := range tc.op.Layers {
				touched[l] = true
			}
			worst := 0.0
			for l := 0; l < m.Cfg.Layers; l++ {
				for kv, got := range []float64{rep.ErrK[l], rep.ErrV[l]} {
					want := measuredErr(m, nm, l, kv)
					if math.Abs(got-want) > 1e-9 {
						t.Errorf("layer %d kv %d: reported %.12f, measured %.12f", l, kv, got, want)
					}
					inOp := len(tc.op.Layers) == 0 || touched[l]
					if tc.changes && inOp && !(got > 1e-3) {
						t.Errorf("layer %d kv %d: error %.3g, want a real approximation error", l, kv, got)
					}
					if (!tc.changes || !inOp) && got > 1e-12 {
						t.Errorf("layer %d kv %d: error %.3g where the projections do not change", l, kv, got)
					}
					worst = max(worst, got)
				}
			}
			if rep.MaxErr != worst {
				t.Errorf("MaxErr %v, want the largest per-layer error %v", rep.MaxErr, worst)
			}
			if tc.op.ChangesProjections() != tc.changes {
				t.Errorf("ChangesProjections() = %v", tc.op.ChangesProjections())
			}
			// The preview gives the same numbers without building the model.
			pre, err := Preview(m, tc.op)
			if err != nil {
				t.Fatal(err)
			}
			for l := range rep.ErrK {
				if math.Abs(pre.ErrK[l]-rep.ErrK[l]) > 1e-12 || math.Abs(pre.ErrV[l]-rep.ErrV[l]) > 1e-12 {
					t.Errorf("layer %d: preview K %v V %v, apply K %v V %v", l, pre.ErrK[l], pre.ErrV[l], rep.ErrK[l], rep.ErrV[l])
				}
			}
			if pre.KVBefore != rep.KVBefore || pre.KVAfter != rep.KVAfter || pre.MaxErr != rep.MaxErr {
				t.Errorf("preview %+v, apply %+v", pre, rep)
			}
		})
	}
}

// K and V are approximated separately, so their errors differ.
func TestSurgeryErrorsKAndVSeparately(t *testing.T) {
	m, _ := New[float64](tinyConfigs()["mha"], nil)
	perturb(m, 37)
	H, n := m.Cfg.Heads, m.Cfg.HeadDim()*m.Cfg.Width
	// Make layer 0's V heads pairwise equal: pooling them into 2 groups is
	// exact for V and not for K.
	w := m.w.layers[0][pWQKV]
	v := w[2*H*n : 3*H*n]
	copy(v[n:2*n], v[:n])
	copy(v[3*n:4*n], v[2*n:3*n])
	_, rep := applyOK(t, m, Op{Kind: OpToGQA, R: 2})
	if rep.ErrV[0] > 1e-12 || rep.ErrK[0] < 0.1 {
		t.Fatalf("layer 0: K error %v, V error %v; want V exact and K not", rep.ErrK[0], rep.ErrV[0])
	}
}

func TestSurgeryEffectSaysWhatChanges(t *testing.T) {
	for _, tc := range []struct {
		op   Op
		want string
	}{
		{Op{Kind: OpToMEA, GN: true}, "K/V projections unchanged; the function changes"},
		{Op{Kind: OpToMEA}, "the function unchanged"},
		{Op{Kind: OpGrow, R: 4}, "the function unchanged"},
		{Op{Kind: OpToGQA, R: 2}, "mean-pooled"},
		{Op{Kind: OpCompress, R: 2}, "rank 2"},
	} {
		if got := tc.op.Effect(); !strings.Contains(got, tc.want) {
			t.Errorf("%v: %q, want it to say %q", tc.op, got, tc.want)
		}
	}
}

// A diverged run's weights are refused in words, instead of a panic in
// the SVD or NaN errors that no JSON file can hold.
func TestSurgeryRefusesNonFiniteWeights(t *testing.T) {
	m, _ := New[float32](tinyConfigs()["mea"], nil)
	H, n := m.Cfg.Heads, m.Cfg.HeadDim()*m.Cfg.Width
	m.w.layers[1][pWQKV][H*n+5] = float32(math.NaN())
	for _, op := range []Op{{Kind: OpCompress, R: 2}, {Kind: OpGrow, R: 4}} {
		if _, _, _, err := Apply(m, nil, op); err == nil || !strings.Contains(err.Error(), "layer 1") || !strings.Contains(err.Error(), "NaN") {
			t.Errorf("%v: got %v, want a refusal naming layer 1", op, err)
		}
		if _, err := Preview(m, op); err == nil {
			t.Errorf("%v: the preview accepted NaN weights", op)
		}
	}
	// Layers the operation does not touch may be anything.
	if _, _, _, err := Apply(m, nil, Op{Kind: OpCompress, R: 2, Layers: []int{0}}); err != nil {
		t.Errorf("compress of layer 0 refused for NaN in layer 1: %v", err)
	}
}
