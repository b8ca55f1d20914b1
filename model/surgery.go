package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/mat"
)

// Head surgery: pure functions from a model and its optimiser state to new
// ones with a different number of KV heads. The input model is never
// modified.
//
// Optimiser state policy: the AdamW moments of every tensor that the
// operation leaves untouched are kept, as is the step count (bias
// correction continues). Tensors that are rewritten or created (the K and V
// rows of wqkv in the changed layers, their mixing matrices, and a new
// head-norm gain) get zero moments: the old moments describe coordinates
// that no longer exist. The Q rows of wqkv keep theirs.

// OpKind names a head-surgery operation.
type OpKind string

const (
	// OpCompress lowers the component-head count h' to R by a truncated
	// SVD of the effective per-head K and V projections (mea.md, "Virtual
	// heads"). A model without HLC is first converted to HLC, so this is
	// also how an MHA or GQA model becomes MEA with virtual heads.
	OpCompress OpKind = "compress"
	// OpGrow raises h' to R (at most H) with fresh component heads whose
	// mixing rows are zero: the model's function does not change.
	OpGrow OpKind = "grow"
	// OpToGQA mean-pools the K and V projections of the heads in each of R
	// groups (Ainslie et al. 2023), the baseline MEA's compression competes
	// with. Only for models without HLC.
	OpToGQA OpKind = "gqa"
	// OpToMEA switches HLC on with the identity (or the current GQA
	// grouping) as mixing, so outputs are unchanged; GN adds per-head
	// GroupNorm with unit gain (which does change outputs).
	OpToMEA OpKind = "mea"
)

// Op is one head-surgery operation.
type Op struct {
	Kind   OpKind `json:"kind"`
	R      int    `json:"r,omitempty"`      // target h' (compress, grow) or G (gqa)
	GN     bool   `json:"gn,omitempty"`     // mea: also add per-head GroupNorm
	Layers []int  `json:"layers,omitempty"` // nil: every layer
	Seed   uint64 `json:"seed,omitempty"`   // grow: seed of the fresh projections
}

// String writes the operation the way ParseOp reads it.
func (o Op) String() string {
	var b strings.Builder
	b.WriteString(string(o.Kind))
	if o.R > 0 {
		fmt.Fprintf(&b, " %d", o.R)
	}
	if o.GN {
		b.WriteString(" +gn")
	}
	if len(o.Layers) > 0 {
		s := make([]string, len(o.Layers))
		for i, l := range o.Layers {
			s[i] = strconv.Itoa(l)
		}
		b.WriteString(" layers=" + strings.Join(s, ","))
	}
	return b.String()
}

// Short is the operation in a few characters, the suffix a fork's name
// gets: svd2, grow4, gqa2, mea+gn, hlc.
func (o Op) Short() string {
	switch o.Kind {
	case OpCompress:
		return fmt.Sprintf("svd%d", o.R)
	case OpGrow:
		return fmt.Sprintf("grow%d", o.R)
	case OpToGQA:
		return fmt.Sprintf("gqa%d", o.R)
	}
	if o.GN {
		return "mea+gn"
	}
	return "hlc"
}

// ParseOp reads "compress 2", "grow 4", "gqa 2", "mea", "mea +gn", with an
// optional "layers=1,2".
func ParseOp(s string) (Op, error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return Op{}, errors.New("empty operation; write one of: compress R, grow R, gqa G, mea [+gn], optionally followed by layers=0,1")
	}
	op := Op{Kind: OpKind(strings.ToLower(f[0]))}
	switch op.Kind {
	case OpCompress, OpGrow, OpToGQA, OpToMEA:
	default:
		return Op{}, fmt.Errorf("unknown operation %q; use compress R, grow R, gqa G or mea [+gn]", f[0])
	}
	for _, w := range f[1:] {
		switch {
		case w == "+gn" || w == "gn":
			op.GN = true
		case strings.HasPrefix(w, "layers="):
			for _, p := range strings.Split(strings.TrimPrefix(w, "layers="), ",") {
				n, err := strconv.Atoi(p)
				if err != nil {
					return Op{}, fmt.Errorf("layers=%s: %q is not a layer number", strings.TrimPrefix(w, "layers="), p)
				}
				op.Layers = append(op.Layers, n)
			}
		default:
			n, err := strconv.Atoi(w)
			if err != nil || n < 1 {
				return Op{}, fmt.Errorf("%q: expected a positive head count, +gn or layers=N,M", w)
			}
			op.R = n
		}
	}
	if op.Kind != OpToMEA && op.R == 0 {
		return Op{}, fmt.Errorf("%s needs a head count, e.g. %q", op.Kind, string(op.Kind)+" 2")
	}
	return op, nil
}

// Report says what an operation did.
type Report struct {
	Op       Op
	KVBefore int64 // KV-cache bytes per token (float32) before
	KVAfter  int64 // and after
	// ErrK and ErrV are, per layer, the realised relative Frobenius error
	// ||W'_eff - W_eff|| / ||W_eff|| of the effective per-head K and V
	// projections (W_eff,j = sum_i mix[i,j] comp_i, one column per query
	// head), measured on the weights the operation wrote: 0 where they are
	// unchanged, the Eckart-Young optimum for compress, the mean-pooling
	// error for gqa.
	ErrK, ErrV []float64
	MaxErr     float64  // the largest of ErrK and ErrV
	Reset      []string // tensors whose AdamW moments were zeroed
}

// Effect says in words what op does to the effective per-head K/V
// projections and to the model's function, for events and previews.
func (op Op) Effect() string {
	switch op.Kind {
	case OpCompress:
		return fmt.Sprintf("K/V projections approximated at rank %d by SVD (the optimal rank-%d approximation); the function changes", op.R, op.R)
	case OpToGQA:
		return "K/V projections mean-pooled per group; the function changes"
	case OpGrow:
		return "K/V projections and the function unchanged (new heads start with zero mixing)"
	case OpToMEA:
		if op.GN {
			return "K/V projections unchanged; the function changes (per-head GroupNorm added)"
		}
		return "K/V projections and the function unchanged (identity mixing)"
	}
	return ""
}

// ErrorText writes the per-layer errors of an operation that approximates
// the projections, K and V separately, "-" for layers it leaves alone:
// "rel. err K 0.812/0.790/-/- V 0.720/0.751/-/- (max 0.812)". Operations
// that do not change the projections get Effect instead.
func (r Report) ErrorText() string {
	if !r.Op.ChangesProjections() {
		return r.Op.Effect()
	}
	touched := func(l int) bool { return len(r.Op.Layers) == 0 || slices.Contains(r.Op.Layers, l) }
	list := func(errs []float64) string {
		s := make([]string, len(errs))
		for l, e := range errs {
			s[l] = "-"
			if touched(l) {
				s[l] = strconv.FormatFloat(e, 'f', 3, 64)
			}
		}
		return strings.Join(s, "/")
	}
	return fmt.Sprintf("rel. err K %s V %s (max %.3f)", list(r.ErrK), list(r.ErrV), r.MaxErr)
}

// ChangesProjections reports whether op approximates the effective K/V
// projections (its per-layer errors are then worth reading).
func (op Op) ChangesProjections() bool { return op.Kind == OpCompress || op.Kind == OpToGQA }

// Config returns the configuration op turns c into, and the layers it
// changes; it is what Apply will build, without building it.
func (op Op) Config(c Config) (Config, []int, error) {
	old := c.Normalized()
	layers := op.Layers
	if len(layers) == 0 {
		for l := 0; l < old.Layers; l++ {
			layers = append(layers, l)
		}
	}
	for _, l := range layers {
		if l < 0 || l >= old.Layers {
			return Config{}, nil, fmt.Errorf("layer %d does not exist; layers are 0..%d", l, old.Layers-1)
		}
	}
	nc := old
	nc.LayerKV = make([]int, old.Layers)
	for l := range nc.LayerKV {
		nc.LayerKV[l] = old.KV(l)
	}
	H := old.Heads
	switch op.Kind {
	case OpCompress, OpGrow:
		for _, l := range layers {
			g := old.KV(l)
			if op.Kind == OpCompress && (op.R < 1 || op.R > g) {
				return Config{}, nil, fmt.Errorf("layer %d has %d KV heads; compress to 1..%d (use grow to add heads)", l, g, g)
			}
			if op.Kind == OpGrow && (op.R < g || op.R > H) {
				return Config{}, nil, fmt.Errorf("layer %d has %d KV heads; grow to %d..%d (the query heads)", l, g, g, H)
			}
			nc.LayerKV[l] = op.R
		}
		nc.HLC = true
	case OpToGQA:
		if old.HLC {
			return Config{}, nil, errors.New("this run learns its head mixing (HLC/MEA); compress it with SVD instead of mean-pooling into GQA groups")
		}
		for _, l := range layers {
			g := old.KV(l)
			if op.R < 1 || op.R > g || g%op.R != 0 || H%op.R != 0 {
				return Config{}, nil, fmt.Errorf("layer %d has %d KV heads; GQA needs a group count that divides it and the %d query heads: %s", l, g, H, commonDivisors(g, H))
			}
			nc.LayerKV[l] = op.R
		}
	case OpToMEA:
		if old.HLC && !(op.GN && !old.GroupNorm) {
			return Config{}, nil, errors.New("this run already has head mixing (HLC); use compress or grow to change its KV heads")
		}
		if len(op.Layers) > 0 {
			return Config{}, nil, errors.New("mea converts every layer (HLC is a property of the whole model); drop layers=")
		}
		nc.HLC = true
		nc.GroupNorm = old.GroupNorm || op.GN
	default:
		return Config{}, nil, fmt.Errorf("unknown operation %q", op.Kind)
	}
	nc = nc.Normalized()
	if err := nc.Validate(); err != nil {
		return Config{}, nil, err
	}
	return nc, layers, nil
}

// Apply performs op on m and its optimiser (opt may be nil) and returns the
// new pair; m and opt are unchanged.
func Apply[T Float](m *Model[T], opt *AdamW[T], op Op) (*Model[T], *AdamW[T], Report, error) {
	old := m.Cfg
	rep := Report{Op: op, KVBefore: old.KVBytesPerToken(4)}
	nc, layers, err := op.Config(old)
	if err != nil {
		return nil, nil, rep, err
	}
	if err := checkFiniteKV(m, layers); err != nil {
		return nil, nil, rep, err
	}
	chosen := make([]bool, old.Layers)
	for _, l := range layers {
		chosen[l] = true
	}
	H := old.Heads
	nm := newEmpty[T](nc, m.compute)
	rep.KVAfter = nc.KVBytesPerToken(4)
	rep.ErrK = make([]float64, old.Layers)
	rep.ErrV = make([]float64, old.Layers)

	// Start from a copy of every tensor that keeps its name and shape.
	changed := map[string]bool{}
	for _, t := range nm.Layout.Tensors {
		dst := nm.Params[t.Off : t.Off+t.Len]
		if s, ok := m.Layout.Lookup(t.Name); ok && slices.Equal(s.Shape, t.Shape) {
			copy(dst, m.Params[s.Off:s.Off+s.Len])
			continue
		}
		changed[t.Name] = true
		if len(t.Shape) == 1 {
			for i := range dst {
				dst[i] = 1 // a new norm gain starts at unit gain
			}
		}
	}
	d, D := old.HeadDim(), old.Width
	rng := rand.New(rand.NewPCG(op.Seed, 0x6e3d))
	for l := 0; l < old.Layers; l++ {
		ow, nw := &m.w.layers[l], &nm.w.layers[l]
		g0, g1 := old.KV(l), nc.KV(l)
		// Q rows are untouched.
		copy(nw[pWQKV][:H*d*D], ow[pWQKV][:H*d*D])
		for kv := 0; kv < 2; kv++ {
			oldComp := ow[pWQKV][(H+kv*g0)*d*D : (H+(kv+1)*g0)*d*D]
			newComp := nw[pWQKV][(H+kv*g1)*d*D : (H+(kv+1)*g1)*d*D]
			var newMix []T
			if nc.HLC {
				newMix = nw[pWlcK+kv]
			}
			e := rewriteKV(op, chosen[l], newComp, newMix, oldComp, ow[pWlcK+kv], g0, g1, H, d*D, rng)
			if kv == 0 {
				rep.ErrK[l] = e
			} else {
				rep.ErrV[l] = e
			}
			rep.MaxErr = max(rep.MaxErr, e)
		}
		if chosen[l] && op.Kind != OpToMEA {
			p := fmt.Sprintf("layers.%d.", l)
			changed[p+"attention.wqkv.weight"] = true
			if nc.HLC {
				changed[p+"attention.wlc_k"] = true
				changed[p+"attention.wlc_v"] = true
			}
		}
	}
	var nopt *AdamW[T]
	if opt != nil {
		nopt = NewAdamW[T](opt.Cfg, nm.Layout)
		nopt.Steps = opt.Steps
		nopt.Parallel = opt.Parallel
		nopt.kernel = opt.kernel
		for _, t := range nm.Layout.Tensors {
			s, ok := m.Layout.Lookup(t.Name)
			switch {
			case ok && !changed[t.Name]:
				copy(nopt.M[t.Off:t.Off+t.Len], opt.M[s.Off:s.Off+s.Len])
				copy(nopt.V[t.Off:t.Off+t.Len], opt.V[s.Off:s.Off+s.Len])
			case ok && strings.HasSuffix(t.Name, ".wqkv.weight"):
				q := H * d * D // keep the Q rows' moments
				copy(nopt.M[t.Off:t.Off+q], opt.M[s.Off:s.Off+q])
				copy(nopt.V[t.Off:t.Off+q], opt.V[s.Off:s.Off+q])
				rep.Reset = append(rep.Reset, t.Name+" (K,V rows)")
			default:
				rep.Reset = append(rep.Reset, t.Name)
			}
		}
	}
	return nm, nopt, rep, nil
}

// Preview is the report Apply would give for op on m (the realised K/V
// errors per layer included) without building the new model: what the
// surgery dialog shows before a person commits to an operation.
func Preview[T Float](m *Model[T], op Op) (Report, error) {
	old := m.Cfg
	rep := Report{Op: op, KVBefore: old.KVBytesPerToken(4)}
	nc, layers, err := op.Config(old)
	if err != nil {
		return rep, err
	}
	if err := checkFiniteKV(m, layers); err != nil {
		return rep, err
	}
	rep.KVAfter = nc.KVBytesPerToken(4)
	rep.ErrK = make([]float64, old.Layers)
	rep.ErrV = make([]float64, old.Layers)
	H, n := old.Heads, old.HeadDim()*old.Width
	rng := rand.New(rand.NewPCG(op.Seed, 0x6e3d))
	for _, l := range layers {
		ow := &m.w.layers[l]
		g0, g1 := old.KV(l), nc.KV(l)
		for kv := 0; kv < 2; kv++ {
			oldComp := ow[pWQKV][(H+kv*g0)*n : (H+(kv+1)*g0)*n]
			newComp := make([]T, g1*n)
			var newMix []T
			if nc.HLC {
				newMix = make([]T, g1*H)
			}
			e := rewriteKV(op, true, newComp, newMix, oldComp, ow[pWlcK+kv], g0, g1, H, n, rng)
			if kv == 0 {
				rep.ErrK[l] = e
			} else {
				rep.ErrV[l] = e
			}
			rep.MaxErr = max(rep.MaxErr, e)
		}
	}
	return rep, nil
}

// rewriteKV writes one layer's new K or V component projections (g1 rows
// of n values) and, for HLC models, their mixing (g1 x H; nil without HLC)
// for op, from the old ones (g0 rows; oldMix nil without HLC). It returns
// the realised relative error of the effective per-head projections.
func rewriteKV[T Float](op Op, chosen bool, newComp, newMix, oldComp, oldMix []T, g0, g1, H, n int, rng *rand.Rand) float64 {
	mix := mixMatrix(oldMix, g0, H)
	switch {
	case !chosen || op.Kind == OpToMEA:
		copy(newComp, oldComp)
		if newMix != nil {
			copy(newMix, mix)
		}
		return 0 // untouched: nothing to measure
	case op.Kind == OpCompress:
		svdCompress(newComp, newMix, oldComp, mix, g0, g1, H, n)
	case op.Kind == OpGrow:
		copy(newComp, oldComp)
		for i := range newComp[g0*n:] {
			newComp[g0*n+i] = T(rng.NormFloat64() * 0.02)
		}
		clear(newMix)
		copy(newMix, mix) // rows g0.. stay zero
	case op.Kind == OpToGQA:
		meanPool(newComp, oldComp, g0, g1, n)
	}
	return relErrEffective(oldComp, mix, g0, newComp, mixMatrix(newMix, g1, H), g1, H, n)
}

// relErrEffective is ||B - A|| / ||A|| (Frobenius) for the effective
// per-head projections A_j = sum_i mixA[i,j] compA_i and B likewise; 0 when
// A is zero.
func relErrEffective[T Float](compA, mixA []T, gA int, compB, mixB []T, gB, H, n int) float64 {
	var diff, norm float64
	a, b := make([]float64, n), make([]float64, n)
	eff := func(dst []float64, comp, mix []T, g, j int) {
		clear(dst)
		for i := 0; i < g; i++ {
			w := float64(mix[i*H+j])
			if w == 0 {
				continue
			}
			for k, v := range comp[i*n : (i+1)*n] {
				dst[k] += w * float64(v)
			}
		}
	}
	for j := 0; j < H; j++ {
		eff(a, compA, mixA, gA, j)
		eff(b, compB, mixB, gB, j)
		for k := range a {
			diff += (b[k] - a[k]) * (b[k] - a[k])
			norm += a[k] * a[k]
		}
	}
	if norm == 0 {
		return 0
	}
	return math.Sqrt(diff / norm)
}

// checkFiniteKV refuses surgery on K/V projections or mixing that hold NaN
// or Inf (a diverged run): SVD and the reported errors need numbers.
func checkFiniteKV[T Float](m *Model[T], layers []int) error {
	c := m.Cfg
	H, n := c.Heads, c.HeadDim()*c.Width
	for _, l := range layers {
		w := m.w.layers[l]
		for _, part := range [][]T{w[pWQKV][H*n : (H+2*c.KV(l))*n], w[pWlcK], w[pWlcV]} {
			for _, v := range part {
				if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
					return fmt.Errorf("layer %d's K/V projections hold NaN or Inf (the run diverged); surgery needs finite weights", l)
				}
			}
		}
	}
	return nil
}

// mixMatrix returns W (G x H), building the fixed GQA grouping when the
// model has no learned mixing.
func mixMatrix[T Float](W []T, G, H int) []T {
	if W != nil {
		return W
	}
	out := make([]T, G*H)
	for j := 0; j < H; j++ {
		out[groupOf(j, G, H)*H+j] = 1
	}
	return out
}

// svdCompress writes r component projections (r rows of n = d*D values)
// and their mixing (r x H) that best approximate, in Frobenius norm, the
// effective per-head projections W_eff,j = sum_i mix[i,j] comp_i. By
// Eckart-Young its relative error is the norm of the discarded singular
// values over the norm of all of them (the tests check the realised error
// against that).
func svdCompress[T Float](newComp, newMix, comp, mix []T, g, r, H, n int) {
	M := mat.NewDense(n, H, nil)
	for j := 0; j < H; j++ {
		for i := 0; i < g; i++ {
			w := float64(mix[i*H+j])
			if w == 0 {
				continue
			}
			row := comp[i*n : (i+1)*n]
			for k, v := range row {
				M.Set(k, j, M.At(k, j)+w*float64(v))
			}
		}
	}
	var svd mat.SVD
	if !svd.Factorize(M, mat.SVDThin) {
		panic("model: SVD did not converge")
	}
	s := svd.Values(nil)
	var u, v mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	for i := 0; i < r; i++ {
		for k := 0; k < n; k++ {
			newComp[i*n+k] = T(u.At(k, i))
		}
		for j := 0; j < H; j++ {
			newMix[i*H+j] = T(s[i] * v.At(j, i))
		}
	}
}

// meanPool averages consecutive groups of g0/g1 component heads (rows of n
// values) into g1 heads.
func meanPool[T Float](dst, src []T, g0, g1, n int) {
	clear(dst)
	per := g0 / g1
	for i := 0; i < g0; i++ {
		o := dst[(i/per)*n : (i/per+1)*n]
		for k, v := range src[i*n : (i+1)*n] {
			o[k] += v / T(per)
		}
	}
}

func commonDivisors(a, b int) string {
	var s []string
	for i := 1; i <= min(a, b); i++ {
		if a%i == 0 && b%i == 0 {
			s = append(s, strconv.Itoa(i))
		}
	}
	return strings.Join(s, ", ")
}

// Clone returns a deep copy of m (parameters; gradients and activations are
// fresh), for forks.
func (m *Model[T]) Clone() *Model[T] {
	c := newEmpty[T](m.Cfg, m.compute)
	copy(c.Params, m.Params)
	return c
}

// Clone returns a deep copy of the optimiser state.
func (o *AdamW[T]) Clone() *AdamW[T] {
	c := *o
	c.M = slices.Clone(o.M)
	c.V = slices.Clone(o.V)
	c.chunk = nil // its closure points at o
	return &c
}
