package model

import "math"

// decodeAttention is attention at position pos for sequence b of the cache
// in layer l, from the query heads in kc.qkv into kc.o. Every variant scores
// against the cached component heads directly, with matrix products:
//
//   - fixed mixing (MHA, GQA, MQA): the query heads of group i attend to
//     component head i, one product for their scores over all positions and
//     one for their outputs;
//   - learned mixing (HLC, MEA): the composite key of head j is never built:
//     q_j . sum_i Wk[i,j] k_i = [Wk[0,j] q_j, ..., Wk[h'-1,j] q_j] .
//     [k_0, ..., k_{h'-1}], and a cache row holds [k_0 ... k_{h'-1}]
//     contiguously, so all heads' scores over all positions are one product
//     against the cache, and so are the value sums; the mixing of values is
//     applied afterwards. Same arithmetic as mixing first.
//
// The softmax normalisation is applied to the d-wide outputs, not the rows.
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
	if !c.HLC {
		for i, j0 := 0, 0; i < G; i++ {
			j1 := j0
			for j1 < H && groupOf(j1, G, H) == i {
				j1++
			}
			nq := j1 - j0
			S := sc.scores[:nq*L]
			m.gemm(false, true, nq, L, d, scale, q[j0*d:], d, K[i*d:], gd, 0, S, L)
			for r := 0; r < nq; r++ {
				sc.inv[r] = 1 / m.softmaxRow(S[r*L:(r+1)*L])
			}
			m.gemm(false, false, nq, d, L, 1, S, L, Vc[i*d:], gd, 0, o[j0*d:], d)
			for r := 0; r < nq; r++ {
				scaleRow(o[(j0+r)*d:(j0+r+1)*d], sc.inv[r])
			}
			j0 = j1
		}
		return
	}
	lw := &m.w.layers[l]
	wk, wv := lw[pWlcK], lw[pWlcV]
	qm, S, Z := sc.qMix[:H*gd], sc.scores[:H*L], sc.zMix[:H*gd]
	for j := 0; j < H; j++ {
		qj := q[j*d : (j+1)*d]
		for i := 0; i < G; i++ {
			w := wk[i*H+j]
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
			w := wv[i*H+j] * sc.inv[j]
			for e, v := range Z[j*gd+i*d : j*gd+(i+1)*d] {
				oj[e] += w * v
			}
		}
	}
}

// softmaxRow replaces row with exp(row - max(row)) and returns the sum.
func (m *Model[T]) softmaxRow(row []T) T {
	_, hi := minMax(row)
	return m.vec.expShiftSum(row, hi)
}

func scaleRow[T Float](x []T, s T) {
	for i := range x {
		x[i] *= s
	}
}
