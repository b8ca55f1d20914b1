//go:build cuda || cudaemu

package gpu

import (
	"errors"
	"fmt"
	"math"

	"github.com/mealab/mealab/model"
)

// Model is a device-resident copy of a model.Model[float32]: parameter slab,
// gradient slab, AdamW moments and activations all in device memory, in
// model.NewLayout's order. Forward, Backward and Step mirror model.Forward,
// model.Backward, model.ClipGrads and model.AdamW.Step; only the loss and
// the step's metrics come back to the host. A Model is not safe for
// concurrent use.
type Model struct {
	rt     *gpuRuntime
	cfg    model.Config
	layout *model.Layout
	size   int

	params, grads, adamM, adamV dbuf
	decay                       devPtr       // one byte per parameter: AdamW decay applies
	cos, sin                    dbuf         // rope tables (Context, d/2)
	fixMix                      map[int]dbuf // one-hot GQA/MHA grouping (G x H) per G, without HLC
	stats                       devPtr       // [0] loss sum, [1] grad sum of squares (doubles), [2] max |logit| bits (uint32)
	sumsqPart                   devPtr       // sumsqBlocks doubles
	optSteps                    int64

	layers []layerOffsets
	emb    int // offsets of the global tensors in the slab
	normF  int
	lmHead int

	acts     *deviceActs
	count    int  // scored targets of the last Forward
	haveLoss bool // the last Forward had targets
	closed   bool
}

// layerOffsets are slab offsets of one layer's tensors (-1 when absent).
type layerOffsets struct {
	G                                    int
	attnNorm, wqkv, wlcK, wlcV, headNorm int
	wo, ffnNorm, w13, w2                 int
}

type layerActs struct {
	resid, xn1, rstd1 dbuf
	qkv, kx, vx, att  dbuf
	ao, gn, gnRstd    dbuf
	mid, xn2, rstd2   dbuf
	ab, h             dbuf
}

type deviceActs struct {
	B, T    int
	bufs    []devPtr // everything allocated, for freeing
	layers  []layerActs
	out     dbuf
	xf      dbuf
	rstdF   dbuf
	logits  dbuf
	lse     dbuf
	rowLoss dbuf
	ints    dbuf // tokens (N), targets (N), perm (N), offs (V+1)
	// Gradient scratch shared by all layers.
	dres, dxn, dqkv, dkx, dvx, dao, dgn, dab, dh, dlogits, dxf, dp dbuf
	part                                                           dbuf // column-reduction partials
}

func (a *deviceActs) tokens() devPtr  { return a.ints.at(0) }
func (a *deviceActs) targets() devPtr { return a.ints.at(a.B * a.T) }
func (a *deviceActs) perm() devPtr    { return a.ints.at(2 * a.B * a.T) }
func (a *deviceActs) offs() devPtr    { return a.ints.at(3 * a.B * a.T) }

// NewModel copies params (in model.NewLayout(cfg)'s order) to the device
// and zeroes the gradients and AdamW moments.
func NewModel(cfg model.Config, params []float32) (m *Model, err error) {
	cfg = cfg.Normalized()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	layout := model.NewLayout(cfg)
	if len(params) != layout.Size {
		return nil, fmt.Errorf("cuda: %d parameters given for a model of %d", len(params), layout.Size)
	}
	rt, err := getRuntime()
	if err != nil {
		return nil, err
	}
	leave, err := rt.enter()
	defer leave()
	if err != nil {
		return nil, err
	}
	m = &Model{rt: rt, cfg: cfg, layout: layout, size: layout.Size, fixMix: map[int]dbuf{}}
	defer func() {
		if err != nil {
			m.freeAll()
			m = nil
		}
	}()
	if err = m.bindOffsets(); err != nil {
		return nil, err
	}
	n := layout.Size
	for _, b := range []struct {
		dst  *dbuf
		what string
	}{{&m.params, "parameters"}, {&m.grads, "gradients"}, {&m.adamM, "AdamW first moments"}, {&m.adamV, "AdamW second moments"}} {
		if *b.dst, err = rt.alloc(n, b.what); err != nil {
			return nil, err
		}
	}
	if m.decay, err = rt.allocBytes(int64(n), "decay mask"); err != nil {
		return nil, err
	}
	if m.stats, err = rt.allocBytes(32, "step statistics"); err != nil {
		return nil, err
	}
	if m.sumsqPart, err = rt.allocBytes(8*sumsqBlocks, "norm partials"); err != nil {
		return nil, err
	}
	mask := make([]uint8, n)
	for _, t := range layout.Tensors {
		if t.Decay {
			for i := t.Off; i < t.Off+t.Len; i++ {
				mask[i] = 1
			}
		}
	}
	if err = upload(rt, m.decay, mask); err != nil {
		return nil, err
	}
	cosT, sinT := model.RopeTable[float32](cfg.Context, cfg.HeadDim(), cfg.RopeTheta)
	if m.cos, err = rt.alloc(len(cosT), "rope table"); err != nil {
		return nil, err
	}
	if m.sin, err = rt.alloc(len(sinT), "rope table"); err != nil {
		return nil, err
	}
	if err = upload(rt, m.cos.ptr, cosT); err != nil {
		return nil, err
	}
	if err = upload(rt, m.sin.ptr, sinT); err != nil {
		return nil, err
	}
	if !cfg.HLC {
		for l := 0; l < cfg.Layers; l++ {
			G := cfg.KV(l)
			if _, ok := m.fixMix[G]; ok {
				continue
			}
			w := groupingMatrix(G, cfg.Heads)
			b, err := rt.alloc(len(w), "GQA grouping")
			if err != nil {
				return nil, err
			}
			m.fixMix[G] = b
			if err = upload(rt, b.ptr, w); err != nil {
				return nil, err
			}
		}
	}
	if err = upload(rt, m.params.ptr, params); err != nil {
		return nil, err
	}
	for _, b := range []dbuf{m.grads, m.adamM, m.adamV} {
		if err = rt.zero(b.ptr, n); err != nil {
			return nil, err
		}
	}
	return m, rt.sync()
}

func (m *Model) bindOffsets() error {
	l := m.layout
	off := func(name string, need bool) (int, error) {
		t, ok := l.Lookup(name)
		if !ok {
			if need {
				return -1, fmt.Errorf("cuda: layout has no tensor %s", name)
			}
			return -1, nil
		}
		return t.Off, nil
	}
	var err error
	get := func(name string, need bool) int {
		o, e := off(name, need)
		if e != nil && err == nil {
			err = e
		}
		return o
	}
	m.emb = get("tok_embeddings.weight", true)
	m.normF = get("norm.weight", true)
	m.lmHead = get("output.weight", true)
	m.layers = make([]layerOffsets, m.cfg.Layers)
	for i := range m.layers {
		p := fmt.Sprintf("layers.%d.", i)
		m.layers[i] = layerOffsets{
			G:        m.cfg.KV(i),
			attnNorm: get(p+"attention_norm.weight", true),
			wqkv:     get(p+"attention.wqkv.weight", true),
			wlcK:     get(p+"attention.wlc_k", m.cfg.HLC),
			wlcV:     get(p+"attention.wlc_v", m.cfg.HLC),
			headNorm: get(p+"attention.head_norm.weight", m.cfg.GroupNorm),
			wo:       get(p+"attention.wo.weight", true),
			ffnNorm:  get(p+"ffn_norm.weight", true),
			w13:      get(p+"feed_forward.w13.weight", true),
			w2:       get(p+"feed_forward.w2.weight", true),
		}
	}
	return err
}

// groupingMatrix is the fixed MHA/GQA mixing as a one-hot (G x H) matrix:
// composite head j reads component head floor(j*G/H). Mixing by it adds
// exact zeros, so it equals the CPU's copy.
func groupingMatrix(G, H int) []float32 {
	w := make([]float32, G*H)
	for j := 0; j < H; j++ {
		w[(j*G/H)*H+j] = 1
	}
	return w
}

func (m *Model) ptr(off int) devPtr  { return m.params.at(off) }
func (m *Model) gptr(off int) devPtr { return m.grads.at(off) }

// mixW returns layer l's K and V mixing matrices (learned or fixed).
func (m *Model) mixW(l int) (k, v devPtr) {
	lo := m.layers[l]
	if m.cfg.HLC {
		return m.ptr(lo.wlcK), m.ptr(lo.wlcV)
	}
	f := m.fixMix[lo.G]
	return f.ptr, f.ptr
}

// ensure sizes the activations for a B x T batch, freeing any others.
func (m *Model) ensure(B, T int) error {
	if m.acts != nil && m.acts.B == B && m.acts.T == T {
		return nil
	}
	if m.acts != nil {
		m.freeActs()
	}
	c := m.cfg
	N, D, H, d, F, V := B*T, c.Width, c.Heads, c.HeadDim(), c.MLP, c.Vocab
	HD := H * d
	// Refuse early, with numbers, when the batch cannot fit.
	need := model.ActivationBytes(c, B, T, 4) + int64(B)*int64(H)*int64(T)*int64(T)*4 + int64(N)*int64(V)*4
	if free, _, err := m.rt.memInfo(); err == nil && need > free {
		return fmt.Errorf("cuda: a %d x %d batch needs about %.1f GiB of activations but %s has %.1f GiB free; use a smaller batch or context",
			B, T, float64(need)/(1<<30), m.rt.info.Name, float64(free)/(1<<30))
	}
	a := &deviceActs{B: B, T: T, layers: make([]layerActs, c.Layers)}
	m.acts = a
	var err error
	mk := func(n int, what string) dbuf {
		if err != nil {
			return dbuf{}
		}
		var b dbuf
		b, err = m.rt.alloc(n, what)
		if err == nil {
			a.bufs = append(a.bufs, b.ptr)
		}
		return b
	}
	maxC3, maxG := 0, 0
	for i := range a.layers {
		G := c.KV(i)
		maxG = max(maxG, G)
		C3 := (H + 2*G) * d
		maxC3 = max(maxC3, C3)
		la := &a.layers[i]
		la.resid, la.xn1, la.rstd1 = mk(N*D, "activations"), mk(N*D, "activations"), mk(N, "activations")
		la.qkv = mk(N*C3, "activations")
		la.kx, la.vx = mk(N*HD, "activations"), mk(N*HD, "activations")
		la.att = mk(B*H*T*T, "attention probabilities")
		la.ao = mk(N*HD, "activations")
		if c.GroupNorm {
			la.gn, la.gnRstd = mk(N*HD, "activations"), mk(N*H, "activations")
		} else {
			la.gn = la.ao
		}
		la.mid, la.xn2, la.rstd2 = mk(N*D, "activations"), mk(N*D, "activations"), mk(N, "activations")
		la.ab, la.h = mk(N*2*F, "activations"), mk(N*F, "activations")
	}
	a.out, a.xf, a.rstdF = mk(N*D, "activations"), mk(N*D, "activations"), mk(N, "activations")
	a.logits, a.lse, a.rowLoss = mk(N*V, "logits"), mk(N, "activations"), mk(N, "activations")
	a.ints = mk(3*N+V+1, "tokens")
	a.dres, a.dxn, a.dqkv = mk(N*D, "gradients"), mk(N*D, "gradients"), mk(N*maxC3, "gradients")
	a.dkx, a.dvx, a.dao, a.dgn = mk(N*HD, "gradients"), mk(N*HD, "gradients"), mk(N*HD, "gradients"), mk(N*HD, "gradients")
	a.dab, a.dh = mk(N*2*F, "gradients"), mk(N*F, "gradients")
	a.dlogits, a.dxf = mk(N*V, "gradients"), mk(N*D, "gradients")
	a.dp = mk(B*H*T*T, "attention gradients")
	// Partials for column reductions: up to 1024 splits of the widest
	// reduced row (D, H*d or G*H).
	a.part = mk(1024*max(D, HD, maxG*H), "reduction partials")
	if err != nil {
		m.freeActs()
		return err
	}
	return nil
}

func (m *Model) freeActs() {
	if m.acts == nil {
		return
	}
	_ = m.rt.sync()
	for _, p := range m.acts.bufs {
		_ = m.rt.free(p)
	}
	m.acts = nil
}

func (m *Model) freeAll() {
	m.freeActs()
	for _, p := range []devPtr{m.params.ptr, m.grads.ptr, m.adamM.ptr, m.adamV.ptr, m.decay, m.cos.ptr, m.sin.ptr, m.stats, m.sumsqPart} {
		_ = m.rt.free(p)
	}
	for _, b := range m.fixMix {
		_ = m.rt.free(b.ptr)
	}
	m.params, m.grads, m.adamM, m.adamV, m.cos, m.sin = dbuf{}, dbuf{}, dbuf{}, dbuf{}, dbuf{}, dbuf{}
	m.decay, m.stats, m.sumsqPart = 0, 0, 0
	m.fixMix = map[int]dbuf{}
}

var errClosed = errors.New("cuda: model is closed")

// check validates a batch exactly as model.Forward does.
func (m *Model) check(tokens, targets []int32, B, T int) error {
	c := m.cfg
	if B <= 0 || T <= 0 || T > c.Context {
		return fmt.Errorf("batch %d x %d tokens does not fit this model (context %d); use 1..%d tokens per sequence", B, T, c.Context, c.Context)
	}
	N := B * T
	if len(tokens) != N || (targets != nil && len(targets) != N) {
		return fmt.Errorf("got %d tokens and %d targets for a %d x %d batch", len(tokens), len(targets), B, T)
	}
	for _, t := range tokens {
		if t < 0 || int(t) >= c.Vocab {
			return fmt.Errorf("token %d is outside the vocabulary of %d", t, c.Vocab)
		}
	}
	for _, t := range targets {
		if int(t) >= c.Vocab {
			return fmt.Errorf("target %d is outside the vocabulary of %d", t, c.Vocab)
		}
	}
	return nil
}

// Forward runs the model on tokens (B*T, row-major by sequence) and, when
// targets is not nil, returns the mean cross-entropy over targets that are
// not negative. Logits stay on the device (see Logits).
func (m *Model) Forward(tokens, targets []int32, B, T int) (float64, error) {
	if m.closed {
		return 0, errClosed
	}
	leave, err := m.rt.enter()
	defer leave()
	if err != nil {
		return 0, err
	}
	if err := m.forward(tokens, targets, B, T); err != nil {
		return 0, err
	}
	if !m.haveLoss {
		return 0, m.rt.sync()
	}
	var st [3]uint64
	if err := download(m.rt, st[:], m.stats); err != nil {
		return 0, err
	}
	if m.count == 0 {
		return 0, nil
	}
	return math.Float64frombits(st[0]) / float64(m.count), nil
}

// MaxLogit returns the largest |q.k|/sqrt(d) of the last Forward (0 before
// any), copied back from the device.
func (m *Model) MaxLogit() float64 {
	if m.closed || m.acts == nil {
		return 0
	}
	leave, err := m.rt.enter()
	defer leave()
	if err != nil {
		return 0
	}
	var st [3]uint64
	if download(m.rt, st[:], m.stats) != nil {
		return 0
	}
	return float64(math.Float32frombits(uint32(st[2])))
}

// forward queues the whole forward pass (and the loss when targets are
// given) without waiting for it.
func (m *Model) forward(tokens, targets []int32, B, T int) error {
	m.rt.begin()
	defer m.rt.end()
	if err := m.check(tokens, targets, B, T); err != nil {
		return err
	}
	if err := m.ensure(B, T); err != nil {
		return err
	}
	r, c, a := m.rt, m.cfg, m.acts
	N, D, H, d, F, V := B*T, c.Width, c.Heads, c.HeadDim(), c.MLP, c.Vocab
	HD := H * d

	// Tokens, targets (negative = ignored; nil = none) and the stable
	// token sort for the embedding's backward pass, in one copy.
	ints := make([]int32, 3*N+V+1)
	copy(ints, tokens)
	count := 0
	for i := 0; i < N; i++ {
		tg := int32(-1)
		if targets != nil {
			tg = targets[i]
		}
		ints[N+i] = tg
		if tg >= 0 {
			count++
		}
	}
	sortByToken(ints[2*N:3*N], ints[3*N:], tokens)
	if err := upload(r, a.ints.ptr, ints); err != nil {
		return err
	}
	m.count, m.haveLoss = count, targets != nil
	if err := r.zero(m.stats, 8); err != nil {
		return err
	}
	maxbits := m.stats + 16

	run := firstErr
	if err := r.embedFwd(a.layers[0].resid.ptr, a.tokens(), m.ptr(m.emb), N, D); err != nil {
		return err
	}
	scale := float32(1 / math.Sqrt(float64(d)))
	for l := range a.layers {
		la, lo := &a.layers[l], m.layers[l]
		G := lo.G
		C3 := (H + 2*G) * d
		next := a.out
		if l+1 < len(a.layers) {
			next = a.layers[l+1].resid
		}
		wk, wv := m.mixW(l)
		err := run(
			r.rmsnormFwd(la.xn1.ptr, la.rstd1.ptr, la.resid.ptr, m.ptr(lo.attnNorm), N, D, 1),
			r.gemm2(false, true, N, C3, D, 1, la.xn1.ptr, D, m.ptr(lo.wqkv), D, 0, la.qkv.ptr, C3),
			r.rope(la.qkv.ptr, m.cos.ptr, m.sin.ptr, N, T, C3, H+G, d, false),
			r.mixFwd(la.kx.ptr, la.qkv.ptr, wk, N, C3, HD, G, H, d),
			r.mixFwd(la.vx.ptr, la.qkv.ptr, wv, N, C3, (H+G)*d, G, H, d),
			// S = scale * Q K^T per (sequence, head), lower triangle.
			r.gemm(gemmOp{TB: true, M: T, N: T, K: d, Alpha: scale,
				A: la.qkv.ptr, LDA: C3, SA1: int64(T * C3), SA2: int64(d),
				B: la.kx.ptr, LDB: HD, SB1: int64(T * HD), SB2: int64(d),
				C: la.att.ptr, LDC: T, SC1: int64(H * T * T), SC2: int64(T * T),
				Z: B * H, Zdiv: H, Causal: 1}),
			r.softmaxFwd(la.att.ptr, T, int64(B*H*T), maxbits),
			// O = P V.
			r.gemm(gemmOp{M: T, N: d, K: T, Alpha: 1,
				A: la.att.ptr, LDA: T, SA1: int64(H * T * T), SA2: int64(T * T),
				B: la.vx.ptr, LDB: HD, SB1: int64(T * HD), SB2: int64(d),
				C: la.ao.ptr, LDC: HD, SC1: int64(T * HD), SC2: int64(d),
				Z: B * H, Zdiv: H, Causal: 2}),
		)
		if err != nil {
			return err
		}
		if c.GroupNorm {
			if err := r.rmsnormFwd(la.gn.ptr, la.gnRstd.ptr, la.ao.ptr, m.ptr(lo.headNorm), N*H, d, H); err != nil {
				return err
			}
		}
		err = run(
			r.copyD(la.mid.ptr, la.resid.ptr, N*D),
			r.gemm2(false, true, N, D, HD, 1, la.gn.ptr, HD, m.ptr(lo.wo), HD, 1, la.mid.ptr, D),
			r.rmsnormFwd(la.xn2.ptr, la.rstd2.ptr, la.mid.ptr, m.ptr(lo.ffnNorm), N, D, 1),
			r.gemm2(false, true, N, 2*F, D, 1, la.xn2.ptr, D, m.ptr(lo.w13), D, 0, la.ab.ptr, 2*F),
			r.swigluFwd(la.h.ptr, la.ab.ptr, N, F),
			r.copyD(next.ptr, la.mid.ptr, N*D),
			r.gemm2(false, true, N, D, F, 1, la.h.ptr, F, m.ptr(lo.w2), F, 1, next.ptr, D),
		)
		if err != nil {
			return err
		}
	}
	err := run(
		r.rmsnormFwd(a.xf.ptr, a.rstdF.ptr, a.out.ptr, m.ptr(m.normF), N, D, 1),
		r.gemm2(false, true, N, V, D, 1, a.xf.ptr, D, m.ptr(m.lmHead), D, 0, a.logits.ptr, V),
	)
	if err != nil || targets == nil {
		return err
	}
	return r.ceFwd(a.lse.ptr, a.rowLoss.ptr, a.logits.ptr, a.targets(), N, V, m.stats)
}

// sortByToken fills perm (len(tokens)) and offs (V+1, zeroed) with a
// stable counting sort of positions by token: positions holding token v are
// perm[offs[v]:offs[v+1]], in increasing order.
func sortByToken(perm, offs, tokens []int32) {
	for _, t := range tokens {
		offs[t+1]++
	}
	for v := 0; v+1 < len(offs); v++ {
		offs[v+1] += offs[v]
	}
	fill := make([]int32, len(offs)-1)
	copy(fill, offs)
	for n, t := range tokens {
		perm[fill[t]] = int32(n)
		fill[t]++
	}
}

// Logits copies the logits of the last Forward (B*T x V, row-major) to dst.
func (m *Model) Logits(dst []float32) error {
	if m.closed {
		return errClosed
	}
	if m.acts == nil {
		return errors.New("cuda: no forward pass has run")
	}
	n := m.acts.B * m.acts.T * m.cfg.Vocab
	if len(dst) != n {
		return fmt.Errorf("cuda: logits hold %d values (%d x %d x %d), dst has %d", n, m.acts.B, m.acts.T, m.cfg.Vocab, len(dst))
	}
	leave, err := m.rt.enter()
	defer leave()
	if err != nil {
		return err
	}
	return download(m.rt, dst, m.acts.logits.ptr)
}

// Backward sets the gradient slab to the gradient of the mean loss of the
// last Forward (which must have had targets). Unlike model.Backward it
// overwrites rather than accumulates; with no scored target the gradients
// are zero.
func (m *Model) Backward() error {
	if m.closed {
		return errClosed
	}
	leave, err := m.rt.enter()
	defer leave()
	if err != nil {
		return err
	}
	if err := m.backward(); err != nil {
		return err
	}
	return m.rt.sync()
}

func (m *Model) backward() error {
	m.rt.begin()
	defer m.rt.end()
	a := m.acts
	if a == nil || !m.haveLoss {
		return errors.New("cuda: Backward needs a Forward with targets first")
	}
	r, c := m.rt, m.cfg
	if err := r.zero(m.grads.ptr, m.size); err != nil {
		return err
	}
	if m.count == 0 {
		return nil
	}
	B, T := a.B, a.T
	N, D, H, d, F, V := B*T, c.Width, c.Heads, c.HeadDim(), c.MLP, c.Vocab
	HD := H * d
	scale := float32(1 / float64(m.count))
	run := firstErr

	err := run(
		r.ceBwd(a.dlogits.ptr, a.logits.ptr, a.lse.ptr, a.targets(), N, V, scale),
		r.gemm2(true, false, V, D, N, 1, a.dlogits.ptr, V, a.xf.ptr, D, 1, m.gptr(m.lmHead), D),
		r.gemm2(false, false, N, D, V, 1, a.dlogits.ptr, V, m.ptr(m.lmHead), D, 0, a.dxf.ptr, D),
		r.rmsnormBwd(a.dres.ptr, m.gptr(m.normF), a.dxf.ptr, a.out.ptr, m.ptr(m.normF), a.rstdF.ptr, N, D, 1, a.part),
	)
	if err != nil {
		return err
	}
	attScale := float32(1 / math.Sqrt(float64(d)))
	for l := len(a.layers) - 1; l >= 0; l-- {
		la, lo := &a.layers[l], m.layers[l]
		G := lo.G
		C3 := (H + 2*G) * d
		// MLP: next = mid + h W2^T; dres is the gradient at next.
		err := run(
			r.gemm2(true, false, D, F, N, 1, a.dres.ptr, D, la.h.ptr, F, 1, m.gptr(lo.w2), F),
			r.gemm2(false, false, N, F, D, 1, a.dres.ptr, D, m.ptr(lo.w2), F, 0, a.dh.ptr, F),
			r.swigluBwd(a.dab.ptr, a.dh.ptr, la.ab.ptr, N, F),
			r.gemm2(true, false, 2*F, D, N, 1, a.dab.ptr, 2*F, la.xn2.ptr, D, 1, m.gptr(lo.w13), D),
			r.gemm2(false, false, N, D, 2*F, 1, a.dab.ptr, 2*F, m.ptr(lo.w13), D, 0, a.dxn.ptr, D),
			r.rmsnormBwd(a.dxf.ptr, m.gptr(lo.ffnNorm), a.dxn.ptr, la.mid.ptr, m.ptr(lo.ffnNorm), la.rstd2.ptr, N, D, 1, a.part),
			r.addInPlace(a.dres.ptr, a.dxf.ptr, N*D), // dres is now the gradient at mid
			// Attention: mid = resid + gn Wo^T.
			r.gemm2(true, false, D, HD, N, 1, a.dres.ptr, D, la.gn.ptr, HD, 1, m.gptr(lo.wo), HD),
		)
		if err != nil {
			return err
		}
		if c.GroupNorm {
			err = run(
				r.gemm2(false, false, N, HD, D, 1, a.dres.ptr, D, m.ptr(lo.wo), HD, 0, a.dgn.ptr, HD),
				r.rmsnormBwd(a.dao.ptr, m.gptr(lo.headNorm), a.dgn.ptr, la.ao.ptr, m.ptr(lo.headNorm), la.gnRstd.ptr, N*H, d, H, a.part),
			)
		} else {
			err = r.gemm2(false, false, N, HD, D, 1, a.dres.ptr, D, m.ptr(lo.wo), HD, 0, a.dao.ptr, HD)
		}
		if err != nil {
			return err
		}
		wk, wv := m.mixW(l)
		err = run(
			// dV = P^T dO.
			r.gemm(gemmOp{TA: true, M: T, N: d, K: T, Alpha: 1,
				A: la.att.ptr, LDA: T, SA1: int64(H * T * T), SA2: int64(T * T),
				B: a.dao.ptr, LDB: HD, SB1: int64(T * HD), SB2: int64(d),
				C: a.dvx.ptr, LDC: HD, SC1: int64(T * HD), SC2: int64(d),
				Z: B * H, Zdiv: H, Causal: 3}),
			// dP = dO V^T (lower triangle), then dS in place.
			r.gemm(gemmOp{TB: true, M: T, N: T, K: d, Alpha: 1,
				A: a.dao.ptr, LDA: HD, SA1: int64(T * HD), SA2: int64(d),
				B: la.vx.ptr, LDB: HD, SB1: int64(T * HD), SB2: int64(d),
				C: a.dp.ptr, LDC: T, SC1: int64(H * T * T), SC2: int64(T * T),
				Z: B * H, Zdiv: H, Causal: 1}),
			r.softmaxBwd(la.att.ptr, a.dp.ptr, T, int64(B*H*T)),
			// dQ = dS K / sqrt(d), into the q columns of dqkv.
			r.gemm(gemmOp{M: T, N: d, K: T, Alpha: attScale,
				A: a.dp.ptr, LDA: T, SA1: int64(H * T * T), SA2: int64(T * T),
				B: la.kx.ptr, LDB: HD, SB1: int64(T * HD), SB2: int64(d),
				C: a.dqkv.ptr, LDC: C3, SC1: int64(T * C3), SC2: int64(d),
				Z: B * H, Zdiv: H, Causal: 2}),
			// dK = dS^T Q / sqrt(d).
			r.gemm(gemmOp{TA: true, M: T, N: d, K: T, Alpha: attScale,
				A: a.dp.ptr, LDA: T, SA1: int64(H * T * T), SA2: int64(T * T),
				B: la.qkv.ptr, LDB: C3, SB1: int64(T * C3), SB2: int64(d),
				C: a.dkx.ptr, LDC: HD, SC1: int64(T * HD), SC2: int64(d),
				Z: B * H, Zdiv: H, Causal: 3}),
			r.mixBwdIn(a.dqkv.ptr, a.dkx.ptr, wk, N, C3, HD, G, H, d),
			r.mixBwdIn(a.dqkv.ptr, a.dvx.ptr, wv, N, C3, (H+G)*d, G, H, d),
		)
		if err != nil {
			return err
		}
		if c.HLC {
			err = run(
				r.mixBwdW(m.gptr(lo.wlcK), a.dkx.ptr, la.qkv.ptr, N, C3, HD, G, H, d, a.part),
				r.mixBwdW(m.gptr(lo.wlcV), a.dvx.ptr, la.qkv.ptr, N, C3, (H+G)*d, G, H, d, a.part),
			)
			if err != nil {
				return err
			}
		}
		err = run(
			r.rope(a.dqkv.ptr, m.cos.ptr, m.sin.ptr, N, T, C3, H+G, d, true),
			r.gemm2(true, false, C3, D, N, 1, a.dqkv.ptr, C3, la.xn1.ptr, D, 1, m.gptr(lo.wqkv), D),
			r.gemm2(false, false, N, D, C3, 1, a.dqkv.ptr, C3, m.ptr(lo.wqkv), D, 0, a.dxn.ptr, D),
			r.rmsnormBwd(a.dxf.ptr, m.gptr(lo.attnNorm), a.dxn.ptr, la.resid.ptr, m.ptr(lo.attnNorm), la.rstd1.ptr, N, D, 1, a.part),
			r.addInPlace(a.dres.ptr, a.dxf.ptr, N*D), // dres is now the gradient at resid
		)
		if err != nil {
			return err
		}
	}
	return r.embedBwd(m.gptr(m.emb), a.dres.ptr, a.perm(), a.offs(), V, D)
}

// Grads copies the gradient slab to dst (len = the layout's size).
func (m *Model) Grads(dst []float32) error {
	if m.closed {
		return errClosed
	}
	if len(dst) != m.size {
		return fmt.Errorf("cuda: gradient slab has %d values, dst %d", m.size, len(dst))
	}
	leave, err := m.rt.enter()
	defer leave()
	if err != nil {
		return err
	}
	return download(m.rt, dst, m.grads.ptr)
}

// Step runs one training step on the device: forward, loss, backward,
// global gradient-norm clipping (clip <= 0 disables it) and an AdamW update
// with learning rate lr, as model.ZeroGrad, Forward, Backward(1),
// model.ClipGrads and model.AdamW.Step do on the CPU.
func (m *Model) Step(tokens, targets []int32, B, T int, lr, clip float64, opt model.AdamWConfig) (StepStats, error) {
	if m.closed {
		return StepStats{}, errClosed
	}
	if targets == nil {
		return StepStats{}, errors.New("cuda: a training step needs targets")
	}
	leave, err := m.rt.enter()
	defer leave()
	if err != nil {
		return StepStats{}, err
	}
	r := m.rt
	if err := m.forward(tokens, targets, B, T); err != nil {
		return StepStats{}, err
	}
	if err := m.backward(); err != nil {
		return StepStats{}, err
	}
	sumsqAt := m.stats + 8
	if err := r.sumsq(sumsqAt, m.grads.ptr, m.size, m.sumsqPart); err != nil {
		return StepStats{}, err
	}
	m.optSteps++
	t := float64(m.optSteps)
	bc1 := 1 - math.Pow(opt.Beta1, t)
	bc2 := 1 - math.Pow(opt.Beta2, t)
	args := adamwArgs{
		clip:        clip,
		b1:          float32(opt.Beta1),
		b2:          float32(opt.Beta2),
		stepSize:    lr / bc1,
		sqrtBC2:     math.Sqrt(bc2),
		eps:         opt.Eps,
		shrinkDecay: float32(1 - lr*opt.WeightDecay),
	}
	if err := r.adamw(m.params.ptr, m.grads.ptr, m.adamM.ptr, m.adamV.ptr, m.decay, m.size, sumsqAt, args); err != nil {
		m.optSteps--
		return StepStats{}, err
	}
	var st [3]uint64
	if err := download(r, st[:], m.stats); err != nil {
		return StepStats{}, err
	}
	s := StepStats{
		GradNorm: math.Sqrt(math.Float64frombits(st[1])),
		MaxLogit: float64(math.Float32frombits(uint32(st[2]))),
	}
	if m.count > 0 {
		s.Loss = math.Float64frombits(st[0]) / float64(m.count)
	}
	return s, nil
}

// Download copies the parameters and AdamW moments to the host (any of the
// three may be nil to skip it) and returns the number of AdamW updates
// applied so far.
func (m *Model) Download(params, adamM, adamV []float32) (int64, error) {
	if m.closed {
		return 0, errClosed
	}
	leave, err := m.rt.enter()
	defer leave()
	if err != nil {
		return 0, err
	}
	for _, x := range []struct {
		dst []float32
		src dbuf
	}{{params, m.params}, {adamM, m.adamM}, {adamV, m.adamV}} {
		if x.dst == nil {
			continue
		}
		if len(x.dst) != m.size {
			return 0, fmt.Errorf("cuda: slab has %d values, destination %d", m.size, len(x.dst))
		}
		if err := download(m.rt, x.dst, x.src.ptr); err != nil {
			return 0, err
		}
	}
	return m.optSteps, nil
}

// DownloadParams copies len(dst) parameters starting at slab offset off to
// dst (one tensor, for a view), leaving the AdamW moments on the device.
func (m *Model) DownloadParams(dst []float32, off int) error {
	if m.closed {
		return errClosed
	}
	if off < 0 || off+len(dst) > m.size {
		return fmt.Errorf("cuda: parameters %d..%d are outside the slab of %d", off, off+len(dst), m.size)
	}
	leave, err := m.rt.enter()
	defer leave()
	if err != nil {
		return err
	}
	return download(m.rt, dst, m.params.at(off))
}

// AttentionProbs copies the attention probabilities (T x T, row t = query
// t; zero above the diagonal) of head h of layer l for sequence b of the
// last forward pass: T*T floats from the activations, nothing else.
func (m *Model) AttentionProbs(l, b, h int) ([]float64, int, error) {
	if m.closed {
		return nil, 0, errClosed
	}
	a := m.acts
	if a == nil {
		return nil, 0, errors.New("cuda: no forward pass has run since the model was made")
	}
	H := m.cfg.Heads
	if l < 0 || l >= len(a.layers) || b < 0 || b >= a.B || h < 0 || h >= H {
		return nil, 0, fmt.Errorf("cuda: no attention for layer %d sequence %d head %d (layers %d, batch %d, heads %d)", l, b, h, len(a.layers), a.B, H)
	}
	T := a.T
	buf := make([]float32, T*T)
	leave, err := m.rt.enter()
	defer leave()
	if err != nil {
		return nil, 0, err
	}
	if err := download(m.rt, buf, a.layers[l].att.at((b*H+h)*T*T)); err != nil {
		return nil, 0, err
	}
	out := make([]float64, T*T)
	for t := 0; t < T; t++ {
		for u := 0; u <= t; u++ {
			out[t*T+u] = float64(buf[t*T+u])
		}
	}
	return out, T, nil
}

// Upload replaces the parameters (nil keeps them), the AdamW moments (nil
// zeroes them) and the AdamW step count.
func (m *Model) Upload(params, adamM, adamV []float32, optSteps int64) error {
	if m.closed {
		return errClosed
	}
	for _, s := range [][]float32{params, adamM, adamV} {
		if s != nil && len(s) != m.size {
			return fmt.Errorf("cuda: slab has %d values, source %d", m.size, len(s))
		}
	}
	leave, err := m.rt.enter()
	defer leave()
	if err != nil {
		return err
	}
	if params != nil {
		if err := upload(m.rt, m.params.ptr, params); err != nil {
			return err
		}
	}
	for _, x := range []struct {
		src []float32
		dst dbuf
	}{{adamM, m.adamM}, {adamV, m.adamV}} {
		if x.src == nil {
			if err := m.rt.zero(x.dst.ptr, m.size); err != nil {
				return err
			}
			continue
		}
		if err := upload(m.rt, x.dst.ptr, x.src); err != nil {
			return err
		}
	}
	m.optSteps = optSteps
	return m.rt.sync()
}

// Close frees the model's device memory. The process keeps the device's
// context and module for later models.
func (m *Model) Close() error {
	if m.closed {
		return nil
	}
	leave, err := m.rt.enter()
	defer leave()
	if err != nil {
		return err
	}
	m.freeAll()
	m.closed = true
	return m.rt.sync()
}
