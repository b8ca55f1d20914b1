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
				return Op{}, fmt.Errorf("%q: expected a positive head count, +gn or layers=...", w)
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
	// ErrK and ErrV are, per layer, the relative Frobenius error of the
	// approximated effective K and V projections (0 where exact).
	ErrK, ErrV []float64
	MaxErr     float64
	Reset      []string // tensors whose AdamW moments were zeroed
}

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
			oldMix := mixMatrix(ow[pWlcK+kv], g0, H)
			var newMix []T
			if nc.HLC {
				newMix = nw[pWlcK+kv]
			}
			var e float64
			switch {
			case !chosen[l] || op.Kind == OpToMEA:
				copy(newComp, oldComp)
				if newMix != nil {
					copy(newMix, oldMix)
				}
			case op.Kind == OpCompress:
				e = svdCompress(newComp, newMix, oldComp, oldMix, g0, g1, H, d*D)
			case op.Kind == OpGrow:
				copy(newComp, oldComp)
				for i := range newComp[g0*d*D:] {
					newComp[g0*d*D+i] = T(rng.NormFloat64() * 0.02)
				}
				clear(newMix)
				copy(newMix, oldMix) // rows g0.. stay zero
			case op.Kind == OpToGQA:
				meanPool(newComp, oldComp, g0, g1, d*D)
			}
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
// effective per-head projections W_eff,j = sum_i mix[i,j] comp_i. It
// returns the relative error, which by Eckart-Young is the norm of the
// discarded singular values over the norm of all of them.
func svdCompress[T Float](newComp, newMix, comp, mix []T, g, r, H, n int) float64 {
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
	var kept, all float64
	for i, x := range s {
		all += x * x
		if i >= r {
			kept += x * x
		}
	}
	if all == 0 {
		return 0
	}
	return math.Sqrt(kept / all)
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
