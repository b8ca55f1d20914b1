package model

// The worker pool runs a func(lo, hi int) per chunk, and a closure built at
// the call site would escape to the heap on every call. So each parallel
// operation of a step is a task: a small struct holding that operation's
// operands, set just before the call, and its closure, built once per model
// (newTasks). A training step allocates nothing.

// tasks holds one task per parallel operation.
type tasks[T Float] struct {
	rmsFwd rmsFwdTask[T]
	rmsBwd rmsBwdTask[T]
	rope   ropeTask[T]
	attn   attnTask[T] // attention.go
	swiglu swigluTask[T]
	ce     ceTask[T]
}

// rmsFwdTask normalises items of mult rows of dim, gain period p.
type rmsFwdTask[T Float] struct {
	out, rstd, x, gain []T
	dim, p, mult       int
	run                func(lo, hi int)
}

// rmsBwdTask is the RMSNorm backward pass: rows (input gradient) and gain
// columns are two parallel loops.
type rmsBwdTask[T Float] struct {
	dx, dgain, dout, x, gain, rstd []T
	acc                            []float64
	r, dim, p                      int
	add                            bool
	rows, gainCols                 func(lo, hi int)
}

// ropeTask rotates the first heads heads of whole sequences in place.
type ropeTask[T Float] struct {
	x                []T
	t, ld, heads, d  int
	cos, sin         []T
	forward, inverse func(lo, hi int)
}

// swigluTask is SwiGLU over rows of (gate | up).
type swigluTask[T Float] struct {
	h, sig, ab, dab, dh []T
	f                   int
	vec                 vecOps[T]
	forward, backward   func(lo, hi int)
}

// ceTask is the cross-entropy over rows of logits.
type ceTask[T Float] struct {
	lse, logits, dlogits []T
	rowLoss              []float64
	targets              []int32
	v                    int
	scale                float64
	forward, backward    func(lo, hi int)
}

// newTasks builds every task's closures once.
func (m *Model[T]) newTasks() {
	o := &m.ops
	rf := &o.rmsFwd
	rf.run = func(lo, hi int) {
		r0 := lo * rf.mult
		rmsnormRowsFast(rf.out[r0*rf.dim:], rf.rstd[r0:], rf.x[r0*rf.dim:], rf.gain, (hi-lo)*rf.mult, rf.dim, rf.p)
	}
	rb := &o.rmsBwd
	rb.rows = func(lo, hi int) {
		// Chunks are items of P rows, so row r's gain is gain[r%P] in every chunk.
		d, P := rb.dim, rb.p
		r0 := lo * P
		rmsnormBackwardRowsFast(rb.dx[r0*d:], rb.dout[r0*d:], rb.x[r0*d:], rb.gain, rb.rstd[r0:], (hi-lo)*P, d, P, rb.add)
	}
	rb.gainCols = func(lo, hi int) {
		if m.gainMul != nil {
			rmsnormGainGradChunked(m.gainMul, rb.dgain, rb.dout, rb.x, rb.rstd, rb.acc, m.acts.gainTmp, rb.r, rb.dim, rb.p, lo, hi)
			return
		}
		rmsnormGainGrad(rb.dgain, rb.dout, rb.x, rb.rstd, rb.acc, rb.r, rb.dim, rb.p, lo, hi)
	}
	rp := &o.rope
	rp.forward = func(lo, hi int) {
		ropeForward(rp.x[lo*rp.t*rp.ld:], (hi-lo)*rp.t, rp.t, rp.ld, 0, rp.heads, rp.d, 0, rp.cos, rp.sin)
	}
	rp.inverse = func(lo, hi int) {
		ropeBackward(rp.x[lo*rp.t*rp.ld:], (hi-lo)*rp.t, rp.t, rp.ld, 0, rp.heads, rp.d, 0, rp.cos, rp.sin)
	}
	sw := &o.swiglu
	sw.vec = m.vec
	sw.forward = func(lo, hi int) {
		F := sw.f
		for n := lo; n < hi; n++ {
			ab := sw.ab[n*2*F : (n+1)*2*F]
			sw.vec.swiglu(sw.h[n*F:(n+1)*F], sw.sig[n*F:(n+1)*F], ab[:F], ab[F:])
		}
	}
	sw.backward = func(lo, hi int) {
		F := sw.f
		for n := lo; n < hi; n++ {
			ab, dab := sw.ab[n*2*F:(n+1)*2*F], sw.dab[n*2*F:(n+1)*2*F]
			sw.vec.swigluBack(dab[:F], dab[F:], sw.dh[n*F:(n+1)*F], ab[:F], ab[F:], sw.sig[n*F:(n+1)*F])
		}
	}
	ce := &o.ce
	ce.forward = func(lo, hi int) {
		if m.fastVec {
			crossEntropyRowsVec(m.vec, ce.lse[lo:], ce.rowLoss[lo:], ce.logits[lo*ce.v:], ce.dlogits[lo*ce.v:], ce.targets[lo:hi], hi-lo, ce.v)
			return
		}
		crossEntropyRows(ce.lse[lo:], ce.rowLoss[lo:], ce.logits[lo*ce.v:], ce.targets[lo:hi], hi-lo, ce.v)
	}
	ce.backward = func(lo, hi int) {
		if m.fastVec {
			crossEntropyBackwardVec(m.vec, ce.dlogits[lo*ce.v:], ce.logits[lo*ce.v:], ce.lse[lo:], ce.targets[lo:hi], hi-lo, ce.v, ce.scale)
			return
		}
		crossEntropyBackward(ce.dlogits[lo*ce.v:], ce.logits[lo*ce.v:], ce.lse[lo:], ce.targets[lo:hi], hi-lo, ce.v, ce.scale)
	}
	m.newAttnTask()
}

// rmsForward normalises items of mult rows of dim in parallel (mult = H,
// dim = d, p = H is the per-head GroupNorm; chunks hold whole tokens so the
// gain period lines up).
func (m *Model[T]) rmsForward(out, rstd, x, gain []T, items, dim, p, mult int) {
	t := &m.ops.rmsFwd
	t.out, t.rstd, t.x, t.gain, t.dim, t.p, t.mult = out, rstd, x, gain, dim, p, mult
	m.compute.ParallelFor(items, t.run)
}

// rmsBack is rmsnormBackward split into a row-parallel input gradient
// (accumulated into dx when add is set: the residual stream) and a
// column-parallel gain gradient. R is a multiple of P; rows are split in
// items of P so that the gain period lines up in every chunk.
func (m *Model[T]) rmsBack(dx, dgain, dout, x, gain, rstd []T, R, dim, P int, add bool) {
	t := &m.ops.rmsBwd
	t.dx, t.dgain, t.dout, t.x, t.gain, t.rstd = dx, dgain, dout, x, gain, rstd
	t.r, t.dim, t.p, t.add, t.acc = R, dim, P, add, m.acts.gainAcc
	m.compute.ParallelFor(R/P, t.rows)
	m.compute.ParallelFor(P*dim, t.gainCols)
}

// rope rotates (or, with inverse, un-rotates) the first heads heads of every
// row of x, B sequences of T_ rows of stride ld.
func (m *Model[T]) rope(x []T, B, T_, ld, heads int, inverse bool) {
	t := &m.ops.rope
	t.x, t.t, t.ld, t.heads, t.d, t.cos, t.sin = x, T_, ld, heads, m.Cfg.HeadDim(), m.cos, m.sin
	if inverse {
		m.compute.ParallelFor(B, t.inverse)
	} else {
		m.compute.ParallelFor(B, t.forward)
	}
}
