package model

import (
	"math"
	"testing"

	"github.com/mealab/mealab/cpu"
)

// TestBatchDecodeMatchesForward prefills three sequences (the third shares
// the first one's prompt slice, so it is copied, not recomputed), decodes
// three more tokens in one batch, and holds every step's logits to the full
// forward pass of that sequence: with the reference backend in float64 and
// with the cpu package (assembly GEMM and exp, two threads) in float32.
func TestBatchDecodeMatchesForward(t *testing.T) {
	for name, c := range tinyConfigs() {
		t.Run(name+"/float64", func(t *testing.T) { checkBatchDecode[float64](t, c, Naive{}, 1e-12) })
		t.Run(name+"/float32", func(t *testing.T) { checkBatchDecode[float32](t, c, cpu.Compute{}, 3e-5) })
	}
}

func checkBatchDecode[T Float](t *testing.T, c Config, comp Compute, tol float64) {
	t.Helper()
	m, err := New[T](c, comp)
	if err != nil {
		t.Fatal(err)
	}
	perturb(m, 12)
	p0, p1 := []int32{3, 1, 4, 1, 5}, []int32{2, 7, 1, 8, 2}
	next := [][]int32{{9, 2, 6}, {8, 1, 8}, {0, 3, 3}}
	seqs := [][]int32{p0, p1, p0}
	kc, err := m.NewBatchCache(3, c.Context)
	if err != nil {
		t.Fatal(err)
	}
	got, err := m.Prefill(kc, seqs)
	if err != nil {
		t.Fatal(err)
	}
	V := c.Vocab
	for step := 0; ; step++ {
		for b := range seqs {
			full := append(append([]int32(nil), seqs[b]...), next[b][:step]...)
			ref, _ := New[T](c, Naive{})
			copy(ref.Params, m.Params)
			if _, err := ref.Forward(full, nil, 1, len(full)); err != nil {
				t.Fatal(err)
			}
			want := ref.Logits(len(full) - 1)
			for i := range want {
				if d := math.Abs(float64(got[b*V+i] - want[i])); d > tol*math.Max(1, math.Abs(float64(want[i]))) {
					t.Fatalf("step %d sequence %d logit %d: batch %v, full %v", step, b, i, got[b*V+i], want[i])
				}
			}
		}
		if step == len(next[0]) {
			break
		}
		toks := []int32{next[0][step], next[1][step], next[2][step]}
		if got, err = m.DecodeBatch(kc, toks); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.DecodeBatch(kc, []int32{1}); err == nil {
		t.Error("one token for three sequences must be an error")
	}
	if _, err := m.DecodeStep(kc, 1); err == nil {
		t.Error("DecodeStep on a batch cache must be an error")
	}
	if _, err := m.Prefill(kc, seqs); err == nil {
		t.Error("prefill into a filled cache must be an error")
	}
}
