package model

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Model is a decoder-only transformer with its parameters, gradients and
// activation buffers. It is not safe for concurrent use.
type Model[T Float] struct {
	Cfg    Config
	Layout *Layout
	Params []T // one slab; see Layout
	Grads  []T // same layout as Params

	w, g    weights[T]
	fixMix  bool // K/V mixing is the fixed MHA/GQA grouping, not learned
	compute Compute
	gemm    gemmFunc[T]
	vec     vecOps[T]
	mix     mixOps[T]
	norm    normOps[T]
	gainMul func(acc, a, b []T, s T) // GainMath, or nil
	fastVec bool                     // vec is the backend's (float32 exps): the cross-entropy uses it too
	ops     tasks[T]
	gn      gradNormTask[T] // gradnorm.go
	cos     []T
	sin     []T

	// Activations for the batch shape of the last Forward.
	B, T_   int
	acts    *activations[T]
	tokens  []int32
	targets []int32
	count   int // scored target positions in the last Forward

	// MaxLogit is the largest |q.k|/sqrt(d) of the last Forward, over all
	// layers and heads: the signal that grows before attention diverges.
	MaxLogit float64
	// LayerMaxLogit is the same per layer (see layerstats.go).
	LayerMaxLogit []float64
}

type layerActs[T Float] struct {
	resid, xn1, rstd1 []T // block input, its RMSNorm and 1/rms
	qkv               []T // (N, C) after RoPE on q and k; C = 3Hd with HLC (composite heads), (H+2G)d otherwise
	weff              []T // HLC only: (3Hd, D) effective projection, Q rows then composite K and V rows
	kx, vx            []T // (N, H d) composite keys and values
	k, v              []T // where attention reads keys and values (into qkv, or kx and vx), row stride ldk
	ldk               int
	lse               []T // (B*H, T) log-sum-exp of each attention row
	ao                []T // (N, H d) attention output before GroupNorm
	gn, gnRstd        []T // (N, H d) after GroupNorm and (N*H) 1/rms
	mid, xn2, rstd2   []T // after the attention residual, its RMSNorm
	ab, h, sig        []T // (N, 2F) gate|up, (N, F) SwiGLU output and sigma(gate)
}

type activations[T Float] struct {
	B, T_  int
	layers []layerActs[T]
	out    []T // (N, D) residual stream after the last block
	xf     []T // (N, D) final RMSNorm
	rstdF  []T
	logits []T // (N, V)
	lse    []T
	// Gradient scratch, reused by every layer.
	dres, dxn, dqkv, dkx, dvx, dao, dgn, dab, dh, dlogits, dxf, dweff []T
	// HLC with h' < h: per chunk of mixChunk tokens the partial gradients of
	// the two mixing matrices (2 x h' x H each) and HeadMixer scratch; mixT
	// holds the two matrices transposed.
	mixPart, mixScr, mixT      []T
	gainTmp                    []T // float32 chunk sums of gain gradients (GainMath)
	attnScr                    []T // fused attention tiles, attnScratch(T) per (sequence, head)
	maxLogit, rowLoss, gainAcc []float64
}

// New builds a model with freshly initialised parameters. The compute
// backend is used for float32 models; float64 models always use the
// reference kernels. c must be valid (see Config.Validate).
func New[T Float](c Config, compute Compute) (*Model[T], error) {
	c = c.Normalized()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	m := newEmpty[T](c, compute)
	m.initParams()
	return m, nil
}

func newEmpty[T Float](c Config, compute Compute) *Model[T] {
	if compute == nil {
		compute = Naive{}
	}
	l := NewLayout(c)
	m := &Model[T]{
		Cfg:     c,
		Layout:  l,
		Params:  make([]T, l.Size),
		Grads:   make([]T, l.Size),
		fixMix:  !c.HLC,
		compute: compute,
		gemm:    pickGemm[T](compute),
		vec:     pickVec[T](compute),
		mix:     pickMix[T](compute),
		norm:    pickNorm[T](compute),
		gainMul: pickGainMul[T](compute),
		fastVec: hasVecMath[T](compute),
	}
	m.w = bindWeights(c, l, m.Params)
	m.g = bindWeights(c, l, m.Grads)
	m.newTasks()
	m.cos, m.sin = ropeTable[T](c.Context, c.HeadDim(), c.RopeTheta)
	return m
}

// Compute returns the model's backend.
func (m *Model[T]) Compute() Compute { return m.compute }

// initParams fills the slab: N(0, 0.02) for matrices and embeddings, with the
// two residual projections scaled by 1/sqrt(2 layers) (GPT-2), unit norm
// gains, and the mixing matrices at the identity (h' = h) or the GQA grouping
// (h' < h), so MEA starts as exactly MHA+GN (or GQA+GN). Random numbers are
// drawn in float64 so float32 and float64 models start identical.
func (m *Model[T]) initParams() {
	c := m.Cfg
	rng := rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))
	resid := 0.02 / math.Sqrt(2*float64(c.Layers))
	for _, t := range m.Layout.Tensors {
		p := m.Params[t.Off : t.Off+t.Len]
		switch {
		case len(t.Shape) == 1: // norm gains
			for i := range p {
				p[i] = 1
			}
		case isMixing(t.Name):
			G, H := t.Shape[0], t.Shape[1]
			clear(p)
			for j := 0; j < H; j++ {
				p[groupOf(j, G, H)*H+j] = 1
			}
		default:
			std := 0.02
			if isResidualProj(t.Name) {
				std = resid
			}
			for i := range p {
				p[i] = T(rng.NormFloat64() * std)
			}
		}
	}
}

func isMixing(name string) bool {
	n := len(name)
	return n > 6 && (name[n-6:] == ".wlc_k" || name[n-6:] == ".wlc_v")
}

func isResidualProj(name string) bool {
	n := len(name)
	return (n > 15 && name[n-15:] == ".wo.weight") || (n > 15 && name[n-15:] == ".w2.weight")
}

// ensure sizes the activation buffers for batch B and sequence length T.
func (m *Model[T]) ensure(B, T_ int) {
	if m.acts != nil && m.acts.B == B && m.acts.T_ == T_ {
		return
	}
	c := m.Cfg
	N, D, H, d, F, V := B*T_, c.Width, c.Heads, c.HeadDim(), c.MLP, c.Vocab
	maxC3 := 0
	a := &activations[T]{B: B, T_: T_, layers: make([]layerActs[T], c.Layers)}
	mk := func(n int) []T { return make([]T, n) }
	for i := range a.layers {
		C3 := m.qkvWidth(i)
		maxC3 = max(maxC3, C3)
		la := &a.layers[i]
		la.resid, la.xn1, la.rstd1 = mk(N*D), mk(N*D), mk(N)
		la.qkv = mk(N * C3)
		if m.folded(i) {
			la.weff = mk(C3 * D)
		}
		if c.KV(i) != H { // GQA and HLC with h' < h expand into per-head keys and values
			la.kx, la.vx = mk(N*H*d), mk(N*H*d)
		}
		la.lse = mk(B * H * T_)
		la.ao = mk(N * H * d)
		if c.GroupNorm {
			la.gn, la.gnRstd = mk(N*H*d), mk(N*H)
		} else {
			la.gn = la.ao
		}
		la.mid, la.xn2, la.rstd2 = mk(N*D), mk(N*D), mk(N)
		la.ab, la.h, la.sig = mk(N*2*F), mk(N*F), mk(N*F)
	}
	a.out, a.xf, a.rstdF = mk(N*D), mk(N*D), mk(N)
	a.logits, a.lse = mk(N*V), mk(N)
	a.rowLoss = make([]float64, N)
	a.gainAcc = make([]float64, max(D, H*d))
	a.gainTmp = mk(max(D, H*d))
	a.dres, a.dxn, a.dqkv = mk(N*D), mk(N*D), mk(N*maxC3)
	a.dkx, a.dvx, a.dao, a.dgn = mk(N*H*d), mk(N*H*d), mk(N*H*d), mk(N*H*d)
	a.dab, a.dh = mk(N*2*F), mk(N*F)
	a.dlogits, a.dxf = mk(N*V), mk(N*D)
	a.attnScr = mk(B * H * attnScratch(T_))
	if c.HLC {
		a.dweff = mk(3 * H * d * D)
		chunks := (N + mixChunk - 1) / mixChunk
		a.mixPart, a.mixScr, a.mixT = mk(chunks*2*H*H), mk(chunks*8*H*H), mk(2*H*H)
	}
	a.maxLogit = make([]float64, B*H)
	m.acts = a
	m.tokens = make([]int32, N)
	m.targets = make([]int32, N)
}

// ActivationBytes estimates the activation memory of a batch, for the
// memory check before allocating. It counts every layer at H KV heads, an
// upper bound.
func ActivationBytes(c Config, B, T_, bytesPerValue int) int64 {
	c = c.Normalized()
	N, D, H, G, d, F, V := int64(B*T_), int64(c.Width), int64(c.Heads), int64(c.Heads), int64(c.HeadDim()), int64(c.MLP), int64(c.Vocab)
	per := N*(6*D+3+(H+2*G)*d+5*H*d+2*H+4*F) + 3*H*d*D
	global := N*(4*D+1+2*V+1) + N*(H+2*G)*d + 5*N*H*d + 3*N*F + int64(B)*H*int64(attnScratch(T_))
	return (int64(c.Layers)*per + global) * int64(bytesPerValue)
}

// Forward runs the model on tokens (B*T, row-major by sequence) and, when
// targets is not nil, returns the mean cross-entropy over targets that are
// not negative. Logits stay available through Logits until the next call.
func (m *Model[T]) Forward(tokens, targets []int32, B, T_ int) (float64, error) {
	c := m.Cfg
	if B <= 0 || T_ <= 0 || T_ > c.Context {
		return 0, fmt.Errorf("batch %d x %d tokens does not fit this model (context %d); use 1..%d tokens per sequence", B, T_, c.Context, c.Context)
	}
	N := B * T_
	if len(tokens) != N || (targets != nil && len(targets) != N) {
		return 0, fmt.Errorf("got %d tokens and %d targets for a %d x %d batch", len(tokens), len(targets), B, T_)
	}
	for _, t := range tokens {
		if t < 0 || int(t) >= c.Vocab {
			return 0, fmt.Errorf("token %d is outside the vocabulary of %d", t, c.Vocab)
		}
	}
	for _, t := range targets {
		if int(t) >= c.Vocab {
			return 0, fmt.Errorf("target %d is outside the vocabulary of %d", t, c.Vocab)
		}
	}
	m.ensure(B, T_)
	copy(m.tokens, tokens)
	a := m.acts
	D, H, d, F, V := c.Width, c.Heads, c.HeadDim(), c.MLP, c.Vocab
	par := m.compute.ParallelFor

	embedForward(a.layers[0].resid, tokens, m.w.emb, D)
	m.MaxLogit = 0
	for l := range a.layers {
		la, lw := &a.layers[l], &m.w.layers[l]
		next := a.out
		if l+1 < len(a.layers) {
			next = a.layers[l+1].resid
		}
		m.rmsForward(la.xn1, la.rstd1, la.resid, lw[pAttnNorm], N, D, 1, 1)
		layerMax := m.attentionForward(la, lw, l, B, T_)
		m.MaxLogit = max(m.MaxLogit, layerMax)
		m.noteLayerLogit(l, layerMax)
		if c.GroupNorm {
			m.rmsForward(la.gn, la.gnRstd, la.ao, lw[pHeadNorm], N, d, H, H)
		}
		copy(la.mid, la.resid)
		m.gemm(false, true, N, D, H*d, 1, la.gn, H*d, lw[pWO], H*d, 1, la.mid, D)
		m.rmsForward(la.xn2, la.rstd2, la.mid, lw[pFFNNorm], N, D, 1, 1)
		m.gemm(false, true, N, 2*F, D, 1, la.xn2, D, lw[pW13], D, 0, la.ab, 2*F)
		sw := &m.ops.swiglu
		sw.h, sw.sig, sw.ab, sw.f = la.h, la.sig, la.ab, F
		par(N, sw.forward)
		copy(next, la.mid)
		m.gemm(false, true, N, D, F, 1, la.h, F, lw[pW2], F, 1, next, D)
	}
	m.rmsForward(a.xf, a.rstdF, a.out, m.w.normF, N, D, 1, 1)
	m.gemm(false, true, N, V, D, 1, a.xf, D, m.w.lmHead, D, 0, a.logits, V)
	if targets == nil {
		m.count = 0
		return 0, nil
	}
	copy(m.targets, targets)
	ce := &m.ops.ce
	ce.lse, ce.rowLoss, ce.logits, ce.dlogits, ce.targets, ce.v = a.lse, a.rowLoss, a.logits, a.dlogits, m.targets, V
	par(N, ce.forward)
	var sum float64
	count := 0
	for n, l := range a.rowLoss[:N] {
		sum += l
		if targets[n] >= 0 {
			count++
		}
	}
	m.count = count
	if count == 0 {
		return 0, nil
	}
	return sum / float64(count), nil
}

// Logits returns the logits of row n (sequence n/T, position n%T) of the last
// Forward. The slice is reused by the next call.
func (m *Model[T]) Logits(n int) []T {
	V := m.Cfg.Vocab
	return m.acts.logits[n*V : (n+1)*V]
}

// ZeroGrad clears the gradient slab.
func (m *Model[T]) ZeroGrad() { clear(m.Grads) }

// Backward accumulates into Grads the gradient of the mean loss of the last
// Forward (which must have had targets) times dloss.
func (m *Model[T]) Backward(dloss float64) {
	c := m.Cfg
	a := m.acts
	if a == nil || m.count == 0 {
		return
	}
	B, T_ := a.B, a.T_
	N, D, H, d, F, V := B*T_, c.Width, c.Heads, c.HeadDim(), c.MLP, c.Vocab
	par := m.compute.ParallelFor
	scale := dloss / float64(m.count)

	m.ops.ce.scale = scale
	par(N, m.ops.ce.backward)
	// logits = xf Wlm^T: dWlm += dlogits^T xf, dxf = dlogits Wlm.
	m.gemm(true, false, V, D, N, 1, a.dlogits, V, a.xf, D, 1, m.g.lmHead, D)
	m.gemm(false, false, N, D, V, 1, a.dlogits, V, m.w.lmHead, D, 0, a.dxf, D)
	m.rmsBack(a.dres, m.g.normF, a.dxf, a.out, m.w.normF, a.rstdF, N, D, 1, false)

	for l := len(a.layers) - 1; l >= 0; l-- {
		la, lw, lg := &a.layers[l], &m.w.layers[l], &m.g.layers[l]
		// MLP: next = mid + h W2^T; dres is the gradient at next.
		m.gemm(true, false, D, F, N, 1, a.dres, D, la.h, F, 1, lg[pW2], F)
		m.gemm(false, false, N, F, D, 1, a.dres, D, lw[pW2], F, 0, a.dh, F)
		sw := &m.ops.swiglu
		sw.dab, sw.dh, sw.ab, sw.sig, sw.f = a.dab, a.dh, la.ab, la.sig, F
		par(N, sw.backward)
		m.gemm(true, false, 2*F, D, N, 1, a.dab, 2*F, la.xn2, D, 1, lg[pW13], D)
		m.gemm(false, false, N, D, 2*F, 1, a.dab, 2*F, lw[pW13], D, 0, a.dxn, D)
		m.rmsBack(a.dres, lg[pFFNNorm], a.dxn, la.mid, lw[pFFNNorm], la.rstd2, N, D, 1, true) // dres is now the gradient at mid.

		// Attention: mid = resid + gn Wo^T.
		m.gemm(true, false, D, H*d, N, 1, a.dres, D, la.gn, H*d, 1, lg[pWO], H*d)
		dao := a.dao
		if c.GroupNorm {
			m.gemm(false, false, N, H*d, D, 1, a.dres, D, lw[pWO], H*d, 0, a.dgn, H*d)
			m.rmsBack(a.dao, lg[pHeadNorm], a.dgn, la.ao, lw[pHeadNorm], la.gnRstd, N*H, d, H, false)
		} else {
			m.gemm(false, false, N, H*d, D, 1, a.dres, D, lw[pWO], H*d, 0, a.dao, H*d)
		}
		m.attentionBackward(la, lw, lg, l, B, T_, dao)
		m.rmsBack(a.dres, lg[pAttnNorm], a.dxn, la.resid, lw[pAttnNorm], la.rstd1, N, D, 1, true) // dres is now the gradient at resid.
	}
	embedBackward(m.g.emb, a.dres, m.tokens, D)
}

// ParamCount is the number of scalars in the parameter slab.
func (m *Model[T]) ParamCount() int { return m.Layout.Size }

// Mixing returns copies of layer l's HLC matrices W_lc^K and W_lc^V (h' x H,
// row-major), or the fixed MHA/GQA grouping when the model does not learn
// its mixing (learned is then false).
func (m *Model[T]) Mixing(l int) (k, v []float64, g, h int, learned bool) {
	if l < 0 || l >= m.Cfg.Layers {
		return nil, nil, 0, 0, false
	}
	g, h = m.Cfg.KV(l), m.Cfg.Heads
	conv := func(w []T) []float64 {
		w = mixMatrix(w, g, h)
		out := make([]float64, len(w))
		for i, x := range w {
			out[i] = float64(x)
		}
		return out
	}
	lw := m.w.layers[l]
	return conv(lw[pWlcK]), conv(lw[pWlcV]), g, h, m.Cfg.HLC
}
