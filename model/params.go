package model

import "fmt"

// TensorInfo describes one named parameter tensor inside the slab.
type TensorInfo struct {
	Name  string // Llama-style name, e.g. "layers.0.attention.wqkv.weight"
	Shape []int  // row-major shape; Linear weights are (out, in) as in PyTorch
	Off   int    // offset into the slab
	Len   int    // number of elements
	Decay bool   // AdamW weight decay applies (matrices and embeddings only)
}

// Layout is the order and shape of every parameter of a config. Parameters,
// gradients and both AdamW moments share it, so one offset names the same
// scalar in all four slabs.
type Layout struct {
	Tensors []TensorInfo
	Size    int
	index   map[string]int
}

// Per-layer tensor roles, in slab order.
const (
	pAttnNorm = iota // (D)
	pWQKV            // ((H + 2h') d, D): Q rows, then K rows, then V rows
	pWlcK            // (h', H), only with HLC
	pWlcV            // (h', H), only with HLC
	pHeadNorm        // (H d), only with GroupNorm
	pWO              // (D, H d)
	pFFNNorm         // (D)
	pW13             // (2F, D): gate rows (W1), then up rows (W3)
	pW2              // (D, F)
	pCount
)

// NewLayout lays out the parameters of c (which must be valid).
func NewLayout(c Config) *Layout {
	c = c.Normalized()
	D, H, F, d := c.Width, c.Heads, c.MLP, c.HeadDim()
	l := &Layout{index: map[string]int{}}
	add := func(name string, decay bool, shape ...int) {
		n := 1
		for _, s := range shape {
			n *= s
		}
		l.index[name] = len(l.Tensors)
		l.Tensors = append(l.Tensors, TensorInfo{Name: name, Shape: shape, Off: l.Size, Len: n, Decay: decay})
		l.Size += n
	}
	add("tok_embeddings.weight", true, c.Vocab, D)
	for i := 0; i < c.Layers; i++ {
		p := fmt.Sprintf("layers.%d.", i)
		G := c.KV(i)
		add(p+"attention_norm.weight", false, D)
		add(p+"attention.wqkv.weight", true, (H+2*G)*d, D)
		if c.HLC {
			// Mixing matrices are scalars over whole heads; decaying them
			// would pull MEA away from its identity start, so they are not
			// decayed (lab choice, like norm gains).
			add(p+"attention.wlc_k", false, G, H)
			add(p+"attention.wlc_v", false, G, H)
		}
		if c.GroupNorm {
			add(p+"attention.head_norm.weight", false, H*d)
		}
		add(p+"attention.wo.weight", true, D, H*d)
		add(p+"ffn_norm.weight", false, D)
		add(p+"feed_forward.w13.weight", true, 2*F, D)
		add(p+"feed_forward.w2.weight", true, D, F)
	}
	add("norm.weight", false, D)
	add("output.weight", true, c.Vocab, D)
	return l
}

// Lookup returns the tensor called name.
func (l *Layout) Lookup(name string) (TensorInfo, bool) {
	i, ok := l.index[name]
	if !ok {
		return TensorInfo{}, false
	}
	return l.Tensors[i], true
}

// View returns the elements of tensor name inside slab.
func View[T Float](l *Layout, slab []T, name string) []T {
	t, ok := l.Lookup(name)
	if !ok {
		panic("model: no tensor " + name)
	}
	return slab[t.Off : t.Off+t.Len : t.Off+t.Len]
}

// MatmulParams counts the parameters of all weight matrices used in matmuls
// (the LM head included, the embedding table excluded since it is a lookup),
// the figure the FLOPs-per-token formula uses.
func (l *Layout) MatmulParams() int {
	n := 0
	for _, t := range l.Tensors {
		if len(t.Shape) == 2 && t.Name != "tok_embeddings.weight" {
			n += t.Len
		}
	}
	return n
}

// weights holds named views into one slab (parameters or gradients).
type weights[T Float] struct {
	emb, normF, lmHead []T
	layers             [][pCount][]T
}

func bindWeights[T Float](c Config, l *Layout, slab []T) weights[T] {
	c = c.Normalized()
	w := weights[T]{
		emb:    View(l, slab, "tok_embeddings.weight"),
		normF:  View(l, slab, "norm.weight"),
		lmHead: View(l, slab, "output.weight"),
		layers: make([][pCount][]T, c.Layers),
	}
	for i := range w.layers {
		p := fmt.Sprintf("layers.%d.", i)
		lw := &w.layers[i]
		lw[pAttnNorm] = View(l, slab, p+"attention_norm.weight")
		lw[pWQKV] = View(l, slab, p+"attention.wqkv.weight")
		if c.HLC {
			lw[pWlcK] = View(l, slab, p+"attention.wlc_k")
			lw[pWlcV] = View(l, slab, p+"attention.wlc_v")
		}
		if c.GroupNorm {
			lw[pHeadNorm] = View(l, slab, p+"attention.head_norm.weight")
		}
		lw[pWO] = View(l, slab, p+"attention.wo.weight")
		lw[pFFNNorm] = View(l, slab, p+"ffn_norm.weight")
		lw[pW13] = View(l, slab, p+"feed_forward.w13.weight")
		lw[pW2] = View(l, slab, p+"feed_forward.w2.weight")
	}
	return w
}
