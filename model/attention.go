package model

import "math"

// Attention as one unit: how a layer's queries, keys and values are
// projected (with the head mixing of HLC/MEA folded into the projection), the
// fused causal attention forward and backward the training step runs, and
// their parallel task. Cached decoding is in attention_decode.go; the
// reference kernels every fast path is checked against are in layers.go
// (attnForward, attnBackward, mixForward, mixBackward).
//
// Tensor roles (params.go): pWQKV holds Q rows, then the h' component K rows,
// then the h' component V rows; pWlcK and pWlcV are the (h', H) mixing
// matrices (HLC only); pHeadNorm is the per-head GroupNorm gain (GroupNorm
// only). In the activations, qkv holds, per token, H query heads and then the
// keys and values attention reads: composite heads with HLC (the mixing is
// folded into the weights), the h' component heads otherwise (GQA expands
// them into kx and vx).

// attnTile is the height of a query block in the fused attention: one block's
// scores (attnTile x keys up to the block's end) live in a scratch tile, never
// the whole T x T matrix. 48 is a multiple of the AVX-512 kernel's 12 rows.
const attnTile = 48

// attnTask is the parallel attention of one layer over (sequence, head)
// pairs, and the GQA expansion of component heads over tokens.
type attnTask[T Float] struct {
	la          *layerActs[T]
	ldq, ldk, g int
	k, v        []T // where attention reads keys and values (stride ldk)
	dk, dv, dao []T
	wk, wv      []T // HLC with h' < h: the (h', H) mixing matrices; nil for GQA
	wkT, wvT    []T // their (H, h') transposes, for the backward pass
	forward     func(lo, hi int)
	backward    func(lo, hi int)
	expand      func(lo, hi int) // GQA and HLC with h' < h: component heads -> per-query-head keys and values
	expandBack  func(lo, hi int) // GQA
	mixBack     func(lo, hi int) // HLC with h' < h, over chunks of mixChunk tokens
}

func (m *Model[T]) newAttnTask() {
	j := &m.ops.attn
	c := &m.Cfg
	j.forward = func(lo, hi int) {
		a, la := m.acts, j.la
		a.maxLogit[lo] = attnForwardTiled(m.gemm, m.vec, la.ao, la.lse, a.attnScr, la.qkv, j.ldq, j.k, j.v, j.ldk, lo, hi, a.T_, c.Heads, c.HeadDim())
	}
	j.backward = func(lo, hi int) {
		a, la := m.acts, j.la
		attnBackwardTiled(m.gemm, m.vec, a.dqkv, j.dk, j.dv, j.dao, la.ao, la.lse, a.attnScr, la.qkv, j.ldq, j.k, j.v, j.ldk, lo, hi, a.T_, c.Heads, c.HeadDim())
	}
	j.expand = func(lo, hi int) {
		la, H, d, C3, G := j.la, c.Heads, c.HeadDim(), j.ldq, j.g
		if j.wk != nil {
			m.mix.rows(la.kx[lo*H*d:], H*d, la.qkv[lo*C3+H*d:], C3, j.wk, hi-lo, G, H, d)
			m.mix.rows(la.vx[lo*H*d:], H*d, la.qkv[lo*C3+(H+G)*d:], C3, j.wv, hi-lo, G, H, d)
			return
		}
		mixForward(la.kx[lo*H*d:], la.qkv[lo*C3:], nil, hi-lo, C3, H*d, G, H, d)
		mixForward(la.vx[lo*H*d:], la.qkv[lo*C3:], nil, hi-lo, C3, (H+G)*d, G, H, d)
	}
	// mixBack is expandBack with learned mixing, over chunks [lo, hi) of
	// mixChunk tokens: the gradients at the component heads (overwritten in
	// dqkv) and each chunk's partial gradient of the two mixing matrices.
	j.mixBack = func(lo, hi int) {
		a, la, H, d, C3, G := m.acts, j.la, c.Heads, c.HeadDim(), j.ldq, j.g
		N := a.B * a.T_
		for ch := lo; ch < hi; ch++ {
			r0 := ch * mixChunk
			n := min(mixChunk, N-r0)
			part := a.mixPart[ch*2*G*H : (ch+1)*2*G*H]
			scr := a.mixScr[ch*8*G*H : (ch+1)*8*G*H]
			for kv, w := range [2][]T{j.wkT, j.wvT} {
				dx := a.dkx
				if kv == 1 {
					dx = a.dvx
				}
				off := r0*C3 + (H+kv*G)*d
				m.mix.rows(a.dqkv[off:], C3, dx[r0*H*d:], H*d, w, n, H, G, d)
				m.mix.dw(part[kv*G*H:(kv+1)*G*H], scr, la.qkv[off:], C3, dx[r0*H*d:], H*d, n, G, H, d)
			}
		}
	}
	j.expandBack = func(lo, hi int) {
		a, la, H, d, C3, G := m.acts, j.la, c.Heads, c.HeadDim(), j.ldq, j.g
		mixBackward(a.dqkv[lo*C3:], nil, a.dkx[lo*H*d:], la.qkv[lo*C3:], nil, hi-lo, C3, H*d, G, H, d)
		mixBackward(a.dqkv[lo*C3:], nil, a.dvx[lo*H*d:], la.qkv[lo*C3:], nil, hi-lo, C3, (H+G)*d, G, H, d)
	}
}

// folded tells whether layer l folds its head mixing into the projection
// weights: HLC with h' = h. With h' < h the layer projects the h' component
// heads and mixes them per token instead (see projectQKV).
func (m *Model[T]) folded(l int) bool { return m.Cfg.HLC && m.Cfg.KV(l) == m.Cfg.Heads }

// qkvWidth is the row width of layer l's qkv activations: 3Hd when the
// mixing is folded into the projection (the buffer holds composite heads),
// (H+2G)d otherwise (query heads, then the G component keys and values).
func (m *Model[T]) qkvWidth(l int) int {
	c := m.Cfg
	if m.folded(l) {
		return 3 * c.Heads * c.HeadDim()
	}
	return (c.Heads + 2*c.KV(l)) * c.HeadDim()
}

// attentionForward is a layer's attention from la.xn1 to la.ao (before
// GroupNorm): projection, RoPE, the GQA expansion where needed, then the
// fused causal attention. It returns the largest |logit|.
func (m *Model[T]) attentionForward(la *layerActs[T], lw *[pCount][]T, l, B, T_ int) float64 {
	m.projectQKV(la, lw, l, B, T_)
	j := &m.ops.attn
	j.la, j.ldq, j.k, j.v, j.ldk = la, m.qkvWidth(l), la.k, la.v, la.ldk
	m.compute.ParallelFor(B*m.Cfg.Heads, j.forward)
	a := m.acts
	mx := 0.0
	for i := range a.maxLogit {
		mx = max(mx, a.maxLogit[i])
		a.maxLogit[i] = 0
	}
	return mx
}

// projectQKV computes layer l's queries, keys and values from la.xn1 into
// la.qkv (RoPE applied) and records in la where attention reads keys and
// values and their row stride.
//
// HLC is linear in the component projections. With h' = h the mixing is
// folded into the weights once per step: W_eff,j = sum_i W_lc[i,j] W_comp,i
// (H*h'*d*D work, one small matrix product), and a single SGEMM projects
// straight to composite heads. With h' < h that would project H composite
// heads where h' suffice: the layer projects the h' component heads (2(H-h')
// fewer head columns, a third of the QKV product saved at h' = h/2) and
// mixes them per token (N*H*h'*d work, the HeadMixer kernels). RoPE commutes
// with the mixing (eq. 13), so both are the same function. MHA reads K and V
// in place; GQA copies each group's head to its query heads.
func (m *Model[T]) projectQKV(la *layerActs[T], lw *[pCount][]T, l, B, T_ int) {
	c := m.Cfg
	N, D, H, d, G := B*T_, c.Width, c.Heads, c.HeadDim(), c.KV(l)
	C3 := m.qkvWidth(l)
	fold := m.folded(l)
	w := lw[pWQKV]
	if fold {
		m.foldQKV(la.weff, lw, G)
		w = la.weff
	}
	m.gemm(false, true, N, C3, D, 1, la.xn1, D, w, D, 0, la.qkv, C3)
	ropeHeads := H + G
	if fold {
		ropeHeads = 2 * H
	}
	m.rope(la.qkv, B, T_, C3, ropeHeads, false)
	if fold || G == H {
		la.k, la.v, la.ldk = la.qkv[H*d:], la.qkv[2*H*d:], C3
		return
	}
	j := &m.ops.attn
	j.la, j.ldq, j.g = la, C3, G
	j.wk, j.wv = nil, nil
	if c.HLC {
		j.wk, j.wv = lw[pWlcK], lw[pWlcV]
	}
	m.compute.ParallelFor(N, j.expand)
	la.k, la.v, la.ldk = la.kx, la.vx, H*d
}

// foldQKV writes the effective projection (3Hd x D): the Q rows, then
// W_eff,K = W_lc^K^T W_comp,K and W_eff,V likewise, as (H x d*D) products.
func (m *Model[T]) foldQKV(weff []T, lw *[pCount][]T, G int) {
	c := m.Cfg
	H, d, D := c.Heads, c.HeadDim(), c.Width
	n := d * D
	w := lw[pWQKV]
	copy(weff[:H*n], w[:H*n])
	m.gemm(true, false, H, n, G, 1, lw[pWlcK], H, w[H*n:(H+G)*n], n, 0, weff[H*n:2*H*n], n)
	m.gemm(true, false, H, n, G, 1, lw[pWlcV], H, w[(H+G)*n:(H+2*G)*n], n, 0, weff[2*H*n:3*H*n], n)
}

// attentionBackward is the backward pass of attentionForward: from dao (the
// gradient at the attention output) it accumulates the gradients of wqkv
// (and of the mixing matrices) and writes a.dxn, the gradient at xn1.
func (m *Model[T]) attentionBackward(la *layerActs[T], lw, lg *[pCount][]T, l, B, T_ int, dao []T) {
	c := m.Cfg
	a := m.acts
	N, D, H, d, G := B*T_, c.Width, c.Heads, c.HeadDim(), c.KV(l)
	C3 := m.qkvWidth(l)
	par := m.compute.ParallelFor
	fold := m.folded(l)
	direct := fold || G == H // keys and values live in qkv itself
	j := &m.ops.attn
	j.la, j.ldq, j.g, j.dao = la, C3, G, dao
	j.k, j.v, j.ldk = la.k, la.v, la.ldk
	switch {
	case direct:
		j.dk, j.dv = a.dqkv[H*d:], a.dqkv[2*H*d:]
		par(B*H, j.backward)
	case c.HLC: // h' < h: back through the per-token mixing
		j.dk, j.dv = a.dkx, a.dvx
		par(B*H, j.backward)
		j.wkT, j.wvT = a.mixT[:G*H], a.mixT[G*H:2*G*H]
		transposeInto(j.wkT, lw[pWlcK], G, H)
		transposeInto(j.wvT, lw[pWlcV], G, H)
		chunks := (N + mixChunk - 1) / mixChunk
		par(chunks, j.mixBack)
		for kv, gw := range [2][]T{lg[pWlcK], lg[pWlcV]} {
			for ch := 0; ch < chunks; ch++ {
				addInto(gw[:G*H], a.mixPart[ch*2*G*H+kv*G*H:ch*2*G*H+(kv+1)*G*H])
			}
		}
	default:
		j.dk, j.dv = a.dkx, a.dvx
		par(B*H, j.backward)
		par(N, j.expandBack)
	}
	ropeHeads := H + G
	if fold {
		ropeHeads = 2 * H
	}
	m.rope(a.dqkv, B, T_, C3, ropeHeads, true)
	if !fold {
		m.gemm(true, false, C3, D, N, 1, a.dqkv, C3, la.xn1, D, 1, lg[pWQKV], D)
		m.gemm(false, false, N, D, C3, 1, a.dqkv, C3, lw[pWQKV], D, 0, a.dxn, D)
		return
	}
	// Through the folded weights: dW_eff = dqkv^T xn, then back to the
	// component projections and the mixing matrices.
	n := d * D
	m.gemm(true, false, C3, D, N, 1, a.dqkv, C3, la.xn1, D, 0, a.dweff, D)
	m.gemm(false, false, N, D, C3, 1, a.dqkv, C3, la.weff, D, 0, a.dxn, D)
	gw, w := lg[pWQKV], lw[pWQKV]
	addInto(gw[:H*n], a.dweff[:H*n])
	for kv := 0; kv < 2; kv++ {
		comp := w[(H+kv*G)*n : (H+(kv+1)*G)*n]
		dcomp := gw[(H+kv*G)*n : (H+(kv+1)*G)*n]
		deff := a.dweff[(1+kv)*H*n : (2+kv)*H*n]
		// dW_comp (G x n) += W_lc (G x H) dW_eff (H x n); dW_lc (G x H) += W_comp dW_eff^T.
		m.gemm(false, false, G, n, H, 1, lw[pWlcK+kv], H, deff, n, 1, dcomp, n)
		m.gemm(false, true, G, H, n, 1, comp, n, deff, n, 1, lg[pWlcK+kv], H)
	}
}

// attnScratch is the fused attention's scratch per (sequence, head) pair:
// two score tiles of attnTile x T.
func attnScratch(T_ int) int { return 2 * attnTile * T_ }

// attnForwardTiled computes what attnForward computes without the T x T
// probabilities: for each (sequence, head) pair in [bh0, bh1) and each block
// of attnTile queries, the block's scores against the keys up to its last
// position (the causal part only) are one matrix product into a scratch
// tile, each row's exps and sum one vector call (vec), the unnormalised
// output one more product, and the row's 1/sum scales the d-wide output
// instead of the row. It keeps the log-sum-exp of each row (lse, B*H*T) for
// the backward pass and returns the largest |logit|. scr holds
// attnScratch(T) elements per pair.
func attnForwardTiled[T Float](gemm gemmFunc[T], vec vecOps[T], out, lse, scr, qkv []T, ldq int, k, v []T, ldk, bh0, bh1, T_, H, d int) float64 {
	scale := 1 / math.Sqrt(float64(d))
	hd := H * d
	var maxLogit float64
	for bh := bh0; bh < bh1; bh++ {
		b, h := bh/H, bh%H
		S := scr[bh*attnScratch(T_):]
		q, kk, vv := qkv[b*T_*ldq+h*d:], k[b*T_*ldk+h*d:], v[b*T_*ldk+h*d:]
		o := out[b*T_*hd+h*d:]
		ls := lse[bh*T_ : (bh+1)*T_]
		var inv [attnTile]T
		for i0 := 0; i0 < T_; i0 += attnTile {
			rows := min(attnTile, T_-i0)
			L := i0 + rows
			gemm(false, true, rows, L, d, T(scale), q[i0*ldq:], ldq, kk, ldk, 0, S, L)
			for r := 0; r < rows; r++ {
				t := i0 + r
				row := S[r*L : r*L+t+1]
				lo, hi := vec.minMax(row)
				maxLogit = max(maxLogit, math.Abs(float64(lo)), math.Abs(float64(hi)))
				sum := vec.expShiftSum(row, hi)
				ls[t] = T(float64(hi) + math.Log(float64(sum)))
				inv[r] = 1 / sum
				clear(S[r*L+t+1 : (r+1)*L])
			}
			ob := o[i0*hd:]
			gemm(false, false, rows, d, L, 1, S, L, vv, ldk, 0, ob, hd)
			for r := 0; r < rows; r++ {
				orow := ob[r*hd : r*hd+d]
				for i := range orow {
					orow[i] *= inv[r]
				}
			}
		}
	}
	return maxLogit
}

// attnBackwardTiled computes what attnBackward computes, block by block like
// attnForwardTiled: the probabilities are recomputed from the scores and the
// saved log-sum-exp (one more product, no T x T matrix kept), then
// dV += P^T dO, dP = dO V^T, dS = P (dP - rowsum(dO o O)), dQ = dS K / sqrt(d)
// and dK += dS^T Q / sqrt(d), all over the causal part only. o is the
// forward output. dk and dv rows (stride ldk) of each pair are overwritten.
func attnBackwardTiled[T Float](gemm gemmFunc[T], vec vecOps[T], dqkv, dk, dv, dout, o, lse, scr, qkv []T, ldq int, k, v []T, ldk, bh0, bh1, T_, H, d int) {
	scale := T(1 / math.Sqrt(float64(d)))
	hd := H * d
	for bh := bh0; bh < bh1; bh++ {
		b, h := bh/H, bh%H
		P := scr[bh*attnScratch(T_):]
		dP := P[attnTile*T_:]
		q, kk, vv := qkv[b*T_*ldq+h*d:], k[b*T_*ldk+h*d:], v[b*T_*ldk+h*d:]
		dq, dkk, dvv := dqkv[b*T_*ldq+h*d:], dk[b*T_*ldk+h*d:], dv[b*T_*ldk+h*d:]
		do, ob := dout[b*T_*hd+h*d:], o[b*T_*hd+h*d:]
		ls := lse[bh*T_ : (bh+1)*T_]
		for u := 0; u < T_; u++ {
			clear(dkk[u*ldk : u*ldk+d])
			clear(dvv[u*ldk : u*ldk+d])
		}
		var D [attnTile]T
		for i0 := 0; i0 < T_; i0 += attnTile {
			rows := min(attnTile, T_-i0)
			L := i0 + rows
			gemm(false, true, rows, L, d, scale, q[i0*ldq:], ldq, kk, ldk, 0, P, L)
			for r := 0; r < rows; r++ {
				t := i0 + r
				vec.expShiftSum(P[r*L:r*L+t+1], ls[t])
				clear(P[r*L+t+1 : (r+1)*L])
				var s T
				g, y := do[t*hd:t*hd+d], ob[t*hd:t*hd+d]
				for i := range g {
					s += g[i] * y[i]
				}
				D[r] = s
			}
			gemm(true, false, L, d, rows, 1, P, L, do[i0*hd:], hd, 1, dvv, ldk)
			gemm(false, true, rows, L, d, 1, do[i0*hd:], hd, vv, ldk, 0, dP, L)
			for r := 0; r < rows; r++ {
				t := i0 + r
				p, g := P[r*L:r*L+t+1], dP[r*L:(r+1)*L]
				for u, pu := range p {
					g[u] = pu * (g[u] - D[r])
				}
				clear(g[t+1:])
			}
			gemm(false, false, rows, d, L, scale, dP, L, kk, ldk, 0, dq[i0*ldq:], ldq)
			gemm(true, false, L, d, rows, scale, dP, L, q[i0*ldq:], ldq, 1, dkk, ldk)
		}
	}
}

// minMax returns the smallest and largest elements of x (not empty).
func minMax[T Float](x []T) (lo, hi T) {
	lo, hi = x[0], x[0]
	l1, h1 := x[0], x[0]
	n := len(x) &^ 1
	for i := 0; i < n; i += 2 {
		a, b := x[i], x[i+1]
		lo, hi = min(lo, a), max(hi, a)
		l1, h1 = min(l1, b), max(h1, b)
	}
	if n < len(x) {
		lo, hi = min(lo, x[n]), max(hi, x[n])
	}
	return min(lo, l1), max(hi, h1)
}

// AttentionProbs returns the attention probabilities of sequence b, head h
// in layer l from the last Forward as a T x T row-major matrix (row t: query
// position t; entries above the diagonal are zero), recomputed from the
// saved queries, keys and log-sum-exps: the step itself never stores them.
// It returns nil when no forward pass has run or an index is out of range.
func (m *Model[T]) AttentionProbs(l, b, h int) ([]float64, int) {
	a := m.acts
	if a == nil || l < 0 || l >= len(a.layers) || b < 0 || b >= a.B || h < 0 || h >= m.Cfg.Heads {
		return nil, 0
	}
	T_, H, d := a.T_, m.Cfg.Heads, m.Cfg.HeadDim()
	la := &a.layers[l]
	ldq := m.qkvWidth(l)
	scale := 1 / math.Sqrt(float64(d))
	out := make([]float64, T_*T_)
	for t := 0; t < T_; t++ {
		q := la.qkv[(b*T_+t)*ldq+h*d : (b*T_+t)*ldq+(h+1)*d]
		lse := float64(la.lse[(b*H+h)*T_+t])
		for u := 0; u <= t; u++ {
			k := la.k[(b*T_+u)*la.ldk+h*d : (b*T_+u)*la.ldk+(h+1)*d]
			var s float64
			for i, qv := range q {
				s += float64(qv) * float64(k[i])
			}
			out[t*T_+u] = math.Exp(s*scale - lse)
		}
	}
	return out, T_
}

// transposeInto writes the (cols, rows) transpose of the rows x cols
// matrix src into dst.
func transposeInto[T Float](dst, src []T, rows, cols int) {
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			dst[j*rows+i] = src[i*cols+j]
		}
	}
}
