package model

import "math"

// decodeAttention is attention at position pos for sequence b of the cache
// in layer l, from the query heads in kc.qkv into kc.o. Every variant scores
// against the cached component heads directly, with two matrix products that
// stream the cache once: the composite key of head j is never built, since
// q_j . sum_i W[i,j] k_i = [W[0,j] q_j, ..., W[h'-1,j] q_j] . [k_0, ...,
// k_{h'-1}], and a cache row holds [k_0 ... k_{h'-1}] contiguously. So all
// heads' scores over all positions are one product of the mixed queries
// (H x h'd) with the cache, and the value sums are one more; the value mixing
// is applied afterwards. W is the learned W_lc (HLC, MEA) or the fixed 0/1
// grouping (MHA, GQA, MQA: the zeros cost h' times the arithmetic of scoring
// each head alone, but the cache is read once, at matrix-product speed,
// instead of in d-wide pieces). The softmax normalisation is applied to the
// d-wide outputs, not to the rows.
func (m *Model[T]) decodeAttention(kc *KVCache[T], b, l, pos int) {
	c := m.Cfg
	H, d, G := c.Heads, c.HeadDim(), c.KV(l)
	L, gd := pos+1, G*d
	C3 := (H + 2*G) * d
	scale := T(1 / math.Sqrt(float64(d)))
	q := kc.qkv[b*C3 : b*C3+H*d]
	K := kc.K[l][b*kc.Cap*gd:]
	Vc := kc.V[l][b*kc.Cap*gd:]
	o := kc.o[b*H*d : (b+1)*H*d]
	sc := &kc.seq[b]
	lw := &m.w.layers[l]
	wk, wv := lw[pWlcK], lw[pWlcV] // nil without HLC: mixWeight gives the grouping
	qm, S, Z := sc.qMix[:H*gd], sc.scores[:H*L], sc.zMix[:H*gd]
	for j := 0; j < H; j++ {
		qj := q[j*d : (j+1)*d]
		for i := 0; i < G; i++ {
			w := mixWeight(wk, i, j, G, H)
			dst := qm[j*gd+i*d : j*gd+(i+1)*d]
			for e, v := range qj {
				dst[e] = w * v
			}
		}
	}
	m.gemm(false, true, H, L, gd, scale, qm, gd, K, gd, 0, S, L)
	for j := 0; j < H; j++ {
		sc.inv[j] = 1 / m.softmaxRow(S[j*L:(j+1)*L])
	}
	m.gemm(false, false, H, gd, L, 1, S, L, Vc, gd, 0, Z, gd)
	for j := 0; j < H; j++ {
		oj := o[j*d : (j+1)*d]
		clear(oj)
		for i := 0; i < G; i++ {
			w := mixWeight(wv, i, j, G, H) * sc.inv[j]
			if w == 0 {
				continue
			}
			for e, v := range Z[j*gd+i*d : j*gd+(i+1)*d] {
				oj[e] += w * v
			}
		}
	}
}

// softmaxRow replaces row with exp(row - max(row)) and returns the sum.
func (m *Model[T]) softmaxRow(row []T) T {
	_, hi := m.vec.minMax(row)
	return m.vec.expShiftSum(row, hi)
}

func scaleRow[T Float](x []T, s T) {
	for i := range x {
		x[i] *= s
	}
}
