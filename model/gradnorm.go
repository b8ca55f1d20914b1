package model

import "math"

// Gradient norms in parallel: the step's global norm (for clipping) and the
// per-layer norms (the metrics grid) come from per-tensor sums of squares,
// each summed in float64 over fixed chunks of normChunk elements whose
// partial sums are added in order, so the results do not depend on the
// thread count.

const normChunk = 1 << 15

// gradNormTask holds the chunk list (built once per layout) and the
// closures handed to ParallelFor.
type gradNormTask[T Float] struct {
	chunks [][3]int  // tensor index, start, end (offsets into Grads)
	part   []float64 // per chunk
	sq     []float64 // per tensor
	scale  T
	sum    func(lo, hi int)
	mul    func(lo, hi int)
}

func (m *Model[T]) gradNorms() *gradNormTask[T] {
	t := &m.gn
	if t.sum == nil {
		for i, ti := range m.Layout.Tensors {
			for lo := ti.Off; lo < ti.Off+ti.Len; lo += normChunk {
				t.chunks = append(t.chunks, [3]int{i, lo, min(lo+normChunk, ti.Off+ti.Len)})
			}
		}
		t.part = make([]float64, len(t.chunks))
		t.sq = make([]float64, len(m.Layout.Tensors))
		t.sum = func(lo, hi int) {
			for c := lo; c < hi; c++ {
				var s0, s1 float64
				g := m.Grads[t.chunks[c][1]:t.chunks[c][2]]
				i := 0
				for ; i+2 <= len(g); i += 2 {
					a, b := float64(g[i]), float64(g[i+1])
					s0 += a * a
					s1 += b * b
				}
				for ; i < len(g); i++ {
					s0 += float64(g[i]) * float64(g[i])
				}
				t.part[c] = s0 + s1
			}
		}
		t.mul = func(lo, hi int) {
			for i := range m.Grads[lo:hi] {
				m.Grads[lo+i] *= t.scale
			}
		}
	}
	return t
}

// tensorSquares returns the sum of squares of each tensor's gradient
// (indexed as Layout.Tensors); the slice is reused by the next call.
func (m *Model[T]) tensorSquares() []float64 {
	t := m.gradNorms()
	m.compute.ParallelFor(len(t.chunks), t.sum)
	clear(t.sq)
	for c, ch := range t.chunks {
		t.sq[ch[0]] += t.part[c]
	}
	return t.sq
}

// GradNorms returns the gradient norm of every layer (in dst, reused when
// large enough) and the global norm, from one pass over the gradients.
func (m *Model[T]) GradNorms(dst []float64) (layers []float64, total float64) {
	L := m.Cfg.Layers
	if cap(dst) < L {
		dst = make([]float64, L)
	}
	dst = dst[:L]
	clear(dst)
	var s float64
	for i, v := range m.tensorSquares() {
		s += v
		if l := layerOf(m.Layout.Tensors[i].Name); l >= 0 && l < L {
			dst[l] += v
		}
	}
	for i := range dst {
		dst[i] = math.Sqrt(dst[i])
	}
	return dst, math.Sqrt(s)
}

// ClipGrads is model.ClipGrads on the model's gradients, in parallel: it
// scales them so that their global norm is at most maxNorm (maxNorm <= 0:
// no clipping) and returns the norm before clipping.
func (m *Model[T]) ClipGrads(maxNorm float64) float64 {
	var s float64
	for _, v := range m.tensorSquares() {
		s += v
	}
	n := math.Sqrt(s)
	m.ClipGradsAt(n, maxNorm)
	return n
}

// ClipGradsAt is ClipGrads with the global norm already measured (by
// GradNorms, so that a step reads its gradients once for both).
func (m *Model[T]) ClipGradsAt(norm, maxNorm float64) {
	if maxNorm > 0 && norm > maxNorm {
		t := m.gradNorms()
		t.scale = T(maxNorm / norm)
		m.compute.ParallelFor(len(m.Grads), t.mul)
	}
}
