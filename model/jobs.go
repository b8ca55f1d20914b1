package model

// The worker pool runs a func(lo, hi int) per chunk, and a closure built at
// the call site would escape to the heap on every call. So each parallel
// operation of a step is a closure built once per model that reads its
// operands from jobs, set just before the call: a training step allocates
// nothing.

// jobs holds the operands of the parallel call in flight and the closures
// that run it.
type jobs[T Float] struct {
	// RMSNorm forward: items of mult rows of dim, gain period p.
	rfOut, rfRstd, rfX, rfGain []T
	rfDim, rfP, rfMult         int
	// RMSNorm backward.
	rbDx, rbDgain, rbDout, rbX, rbGain, rbRstd []T
	rbR, rbDim, rbP                            int
	rbAdd                                      bool
	// RoPE over whole sequences.
	ropeX                   []T
	ropeT, ropeLd, ropeHead int
	// Attention and the GQA expansion of one layer.
	la             *layerActs[T]
	ldq, ldk, g    int
	k, v, dk, dv   []T
	dout           []T
	ceTargets      []int32
	ceScale        float64
	lr             float64
	rmsFwd         func(lo, hi int)
	rmsRows        func(lo, hi int)
	rmsGain        func(lo, hi int)
	ropeFwd        func(lo, hi int)
	ropeBwd        func(lo, hi int)
	attnFwd        func(lo, hi int)
	attnBwd        func(lo, hi int)
	mixFwd, mixBwd func(lo, hi int)
	swiFwd, swiBwd func(lo, hi int)
	ceFwd, ceBwd   func(lo, hi int)
}

// buildJobs makes the closures once; they read the model's current
// activations, so they survive ensure reallocating them.
func (m *Model[T]) buildJobs() {
	j := &m.jb
	c := &m.Cfg
	j.rmsFwd = func(lo, hi int) {
		r0 := lo * j.rfMult
		rmsnormForward(j.rfOut[r0*j.rfDim:], j.rfRstd[r0:], j.rfX[r0*j.rfDim:], j.rfGain, (hi-lo)*j.rfMult, j.rfDim, j.rfP)
	}
	j.rmsRows = func(lo, hi int) {
		// Chunks are items of P rows, so row r's gain is gain[r%P] in every chunk.
		d, P := j.rbDim, j.rbP
		r0 := lo * P
		rmsnormBackwardRows(j.rbDx[r0*d:], j.rbDout[r0*d:], j.rbX[r0*d:], j.rbGain, j.rbRstd[r0:], (hi-lo)*P, d, P, j.rbAdd)
	}
	j.rmsGain = func(lo, hi int) {
		rmsnormGainGrad(j.rbDgain, j.rbDout, j.rbX, j.rbRstd, m.acts.gainAcc, j.rbR, j.rbDim, j.rbP, lo, hi)
	}
	j.ropeFwd = func(lo, hi int) {
		T_, ld := j.ropeT, j.ropeLd
		ropeForward(j.ropeX[lo*T_*ld:], (hi-lo)*T_, T_, ld, 0, j.ropeHead, c.HeadDim(), 0, m.cos, m.sin)
	}
	j.ropeBwd = func(lo, hi int) {
		T_, ld := j.ropeT, j.ropeLd
		ropeBackward(j.ropeX[lo*T_*ld:], (hi-lo)*T_, T_, ld, 0, j.ropeHead, c.HeadDim(), 0, m.cos, m.sin)
	}
	j.attnFwd = func(lo, hi int) {
		a, la := m.acts, j.la
		a.maxLogit[lo] = attnForwardGemm(m.gemm, la.ao, la.att, la.qkv, j.ldq, j.k, j.v, j.ldk, lo, hi, a.T_, c.Heads, c.HeadDim())
	}
	j.attnBwd = func(lo, hi int) {
		a, la := m.acts, j.la
		attnBackwardGemm(m.gemm, a.dqkv, j.dk, j.dv, j.dout, la.att, la.qkv, j.ldq, j.k, j.v, j.ldk, a.dp, lo, hi, a.T_, c.Heads, c.HeadDim())
	}
	j.mixFwd = func(lo, hi int) {
		la, H, d, C3, G := j.la, c.Heads, c.HeadDim(), j.ldq, j.g
		mixForward(la.kx[lo*H*d:], la.qkv[lo*C3:], nil, hi-lo, C3, H*d, G, H, d)
		mixForward(la.vx[lo*H*d:], la.qkv[lo*C3:], nil, hi-lo, C3, (H+G)*d, G, H, d)
	}
	j.mixBwd = func(lo, hi int) {
		a, la, H, d, C3, G := m.acts, j.la, c.Heads, c.HeadDim(), j.ldq, j.g
		mixBackward(a.dqkv[lo*C3:], nil, a.dkx[lo*H*d:], la.qkv[lo*C3:], nil, hi-lo, C3, H*d, G, H, d)
		mixBackward(a.dqkv[lo*C3:], nil, a.dvx[lo*H*d:], la.qkv[lo*C3:], nil, hi-lo, C3, (H+G)*d, G, H, d)
	}
	j.swiFwd = func(lo, hi int) {
		F := c.MLP
		swigluForward(j.la.h[lo*F:], j.la.sig[lo*F:], j.la.ab[lo*2*F:], hi-lo, F)
	}
	j.swiBwd = func(lo, hi int) {
		a, F := m.acts, c.MLP
		swigluBackward(a.dab[lo*2*F:], a.dh[lo*F:], j.la.ab[lo*2*F:], j.la.sig[lo*F:], hi-lo, F)
	}
	j.ceFwd = func(lo, hi int) {
		a, V := m.acts, c.Vocab
		crossEntropyRows(a.lse[lo:], a.rowLoss[lo:], a.logits[lo*V:], j.ceTargets[lo:hi], hi-lo, V)
	}
	j.ceBwd = func(lo, hi int) {
		a, V := m.acts, c.Vocab
		crossEntropyBackward(a.dlogits[lo*V:], a.logits[lo*V:], a.lse[lo:], m.targets[lo:hi], hi-lo, V, j.ceScale)
	}
}

// rmsForward normalises items of mult rows of dim in parallel (mult = H,
// dim = d, p = H is the per-head GroupNorm; chunks hold whole tokens so the
// gain period lines up).
func (m *Model[T]) rmsForward(out, rstd, x, gain []T, items, dim, p, mult int) {
	j := &m.jb
	j.rfOut, j.rfRstd, j.rfX, j.rfGain, j.rfDim, j.rfP, j.rfMult = out, rstd, x, gain, dim, p, mult
	m.compute.ParallelFor(items, j.rmsFwd)
}

// rope rotates (or, with inverse, un-rotates) the first heads heads of every
// row of x, B sequences of T_ rows of stride ld.
func (m *Model[T]) rope(x []T, B, T_, ld, heads int, inverse bool) {
	j := &m.jb
	j.ropeX, j.ropeT, j.ropeLd, j.ropeHead = x, T_, ld, heads
	if inverse {
		m.compute.ParallelFor(B, j.ropeBwd)
	} else {
		m.compute.ParallelFor(B, j.ropeFwd)
	}
}
