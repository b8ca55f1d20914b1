package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"unsafe"
)

// KVCache holds, per layer, the RoPE'd keys and the values of the component
// heads for every position decoded so far, for Batch sequences decoded in
// step: KVHeads heads (H for MHA, G for GQA, h' for MEA with virtual heads).
// Composite heads are never stored; MEA scores against the component heads
// directly (attention_decode.go).
type KVCache[T Float] struct {
	Heads        []int // cached heads per layer
	HeadDim, Cap int
	Batch        int   // sequences, all at the same position
	K, V         [][]T // per layer: (Batch, Cap, Heads[l], HeadDim)
	Len          int   // positions filled

	// Decode scratch for Batch rows, allocated with the cache so decoding
	// never allocates.
	x, xn, qkv, o, gn, ab, h, logits []T
	rstd                             []T
	seq                              []seqScratch[T]
	m                                *Model[T] // the model of the step in flight
	layer, pos                       int
	attn                             func(lo, hi int) // attention of sequences [lo, hi), built once
}

// seqScratch is one sequence's attention scratch: scores (H, Cap), the mixed
// queries and value sums (H, h' d) and the rows' 1/sum (H).
type seqScratch[T Float] struct {
	scores, qMix, zMix, inv []T
}

// NewCache allocates a cache for one sequence of up to capacity positions
// (at most the model's context).
func (m *Model[T]) NewCache(capacity int) (*KVCache[T], error) { return m.NewBatchCache(1, capacity) }

// NewBatchCache allocates a cache for batch sequences of up to capacity
// positions each.
func (m *Model[T]) NewBatchCache(batch, capacity int) (*KVCache[T], error) {
	c := m.Cfg
	if capacity <= 0 || capacity > c.Context {
		return nil, fmt.Errorf("cache capacity %d is outside 1..%d (the model's context)", capacity, c.Context)
	}
	if batch < 1 {
		return nil, fmt.Errorf("a cache needs at least one sequence, got %d", batch)
	}
	d, H, D, F := c.HeadDim(), c.Heads, c.Width, c.MLP
	kc := &KVCache[T]{HeadDim: d, Cap: capacity, Batch: batch}
	maxG := 0
	for l := range c.Layers {
		G := c.KV(l)
		maxG = max(maxG, G)
		kc.Heads = append(kc.Heads, G)
		kc.K = append(kc.K, make([]T, batch*capacity*G*d))
		kc.V = append(kc.V, make([]T, batch*capacity*G*d))
	}
	B := batch
	kc.x, kc.xn = make([]T, B*D), make([]T, B*D)
	kc.qkv = make([]T, B*(H+2*maxG)*d)
	kc.o, kc.gn = make([]T, B*H*d), make([]T, B*H*d)
	kc.ab, kc.h = make([]T, B*2*F), make([]T, B*F)
	kc.logits = make([]T, B*c.Vocab)
	kc.rstd = make([]T, B*H)
	kc.seq = make([]seqScratch[T], B)
	for b := range kc.seq {
		sc := &kc.seq[b]
		sc.scores, sc.inv = make([]T, H*capacity), make([]T, H)
		sc.qMix, sc.zMix = make([]T, H*maxG*d), make([]T, H*maxG*d)
	}
	kc.attn = func(lo, hi int) {
		for b := lo; b < hi; b++ {
			kc.m.decodeAttention(kc, b, kc.layer, kc.pos)
		}
	}
	return kc, nil
}

// Bytes is the memory the cache allocated for keys and values, counted from
// the buffers themselves.
func (kc *KVCache[T]) Bytes() int64 {
	var n int64
	var zero T
	for l := range kc.K {
		n += int64(len(kc.K[l])+len(kc.V[l])) * int64(unsafe.Sizeof(zero))
	}
	return n
}

// BytesPerToken is Bytes divided by the positions it holds (Batch x Cap).
func (kc *KVCache[T]) BytesPerToken() int64 { return kc.Bytes() / int64(kc.Cap*kc.Batch) }

// Reset empties the cache without freeing it.
func (kc *KVCache[T]) Reset() { kc.Len = 0 }

// DecodeStep feeds one token at position kc.Len of a one-sequence cache and
// returns the logits for the next token (valid until the next call).
func (m *Model[T]) DecodeStep(kc *KVCache[T], token int32) ([]T, error) {
	if kc.Batch != 1 {
		return nil, fmt.Errorf("DecodeStep takes a one-sequence cache; this one holds %d (use DecodeBatch)", kc.Batch)
	}
	return m.DecodeBatch(kc, []int32{token})
}

// DecodeBatch feeds one token per sequence, all at position kc.Len, and
// returns the logits (Batch x Vocab, valid until the next call). The weight
// products take all sequences at once (one pass over the weights per step);
// attention runs in parallel over sequences.
func (m *Model[T]) DecodeBatch(kc *KVCache[T], tokens []int32) ([]T, error) {
	c := m.Cfg
	if kc.Len >= kc.Cap {
		return nil, fmt.Errorf("the KV cache is full (%d positions); reset it or allocate a larger one", kc.Cap)
	}
	if !m.fits(kc) {
		return nil, fmt.Errorf("the KV cache was made for another shape of model; allocate a new one with NewCache")
	}
	if len(tokens) != kc.Batch {
		return nil, fmt.Errorf("got %d tokens for a cache of %d sequences", len(tokens), kc.Batch)
	}
	for _, token := range tokens {
		if token < 0 || int(token) >= c.Vocab {
			return nil, fmt.Errorf("token %d is outside the vocabulary of %d", token, c.Vocab)
		}
	}
	D, H, d, F, V := c.Width, c.Heads, c.HeadDim(), c.MLP, c.Vocab
	B, pos := kc.Batch, kc.Len
	for b, token := range tokens {
		copy(kc.x[b*D:(b+1)*D], m.w.emb[int(token)*D:(int(token)+1)*D])
	}
	rstd := kc.rstd[:B]
	for l := 0; l < c.Layers; l++ {
		lw := &m.w.layers[l]
		G := c.KV(l)
		C3 := (H + 2*G) * d
		rmsnormForward(kc.xn, rstd, kc.x, lw[pAttnNorm], B, D, 1)
		m.gemm(false, true, B, C3, D, 1, kc.xn, D, lw[pWQKV], D, 0, kc.qkv, C3)
		ropeForward(kc.qkv, B, 1, C3, 0, H+G, d, pos, m.cos, m.sin)
		K, Vc := kc.K[l], kc.V[l]
		for b := 0; b < B; b++ {
			row := (b*kc.Cap + pos) * G * d
			copy(K[row:row+G*d], kc.qkv[b*C3+H*d:b*C3+(H+G)*d])
			copy(Vc[row:row+G*d], kc.qkv[b*C3+(H+G)*d:(b+1)*C3])
		}
		kc.m, kc.layer, kc.pos = m, l, pos
		if B == 1 {
			kc.attn(0, 1) // its products use the threads
		} else {
			m.compute.ParallelFor(B, kc.attn)
		}
		gn := kc.o
		if c.GroupNorm {
			rmsnormForward(kc.gn, kc.rstd, kc.o, lw[pHeadNorm], B*H, d, H)
			gn = kc.gn
		}
		m.gemm(false, true, B, D, H*d, 1, gn, H*d, lw[pWO], H*d, 1, kc.x, D)
		rmsnormForward(kc.xn, rstd, kc.x, lw[pFFNNorm], B, D, 1)
		m.gemm(false, true, B, 2*F, D, 1, kc.xn, D, lw[pW13], D, 0, kc.ab, 2*F)
		for b := 0; b < B; b++ {
			ab := kc.ab[b*2*F : (b+1)*2*F]
			swigluForward(kc.h[b*F:(b+1)*F], nil, ab, 1, F)
		}
		m.gemm(false, true, B, D, F, 1, kc.h, F, lw[pW2], F, 1, kc.x, D)
	}
	rmsnormForward(kc.xn, rstd, kc.x, m.w.normF, B, D, 1)
	m.gemm(false, true, B, V, D, 1, kc.xn, D, m.w.lmHead, D, 0, kc.logits, V)
	kc.Len++
	return kc.logits, nil
}

// Prefill runs the prompts (one per sequence, all the same length) through
// the training forward pass, which is far faster than decoding them token by
// token, and fills the cache with their component keys and values. It
// returns the logits after each prompt (Batch x Vocab). Sequences given the
// very same slice share the work (computed once, copied: prefix sharing).
func (m *Model[T]) Prefill(kc *KVCache[T], prompts [][]int32) ([]T, error) {
	c := m.Cfg
	if !m.fits(kc) {
		return nil, fmt.Errorf("the KV cache was made for another shape of model; allocate a new one with NewCache")
	}
	if len(prompts) != kc.Batch || kc.Len != 0 {
		return nil, fmt.Errorf("prefill needs an empty cache and one prompt per sequence (%d), got %d", kc.Batch, len(prompts))
	}
	P := len(prompts[0])
	if P < 1 || P > kc.Cap {
		return nil, fmt.Errorf("prompt of %d tokens does not fit a cache of %d positions", P, kc.Cap)
	}
	H, d, D, V := c.Heads, c.HeadDim(), c.Width, c.Vocab
	var comp []T
	for b, pr := range prompts {
		if len(pr) != P {
			return nil, fmt.Errorf("prompts must have the same length: %d and %d", P, len(pr))
		}
		if src := sharedWith(prompts, b); src >= 0 {
			for l := range kc.K {
				n := kc.Cap * kc.Heads[l] * d
				copy(kc.K[l][b*n:b*n+P*kc.Heads[l]*d], kc.K[l][src*n:])
				copy(kc.V[l][b*n:b*n+P*kc.Heads[l]*d], kc.V[l][src*n:])
			}
			copy(kc.logits[b*V:(b+1)*V], kc.logits[src*V:])
			continue
		}
		if _, err := m.Forward(pr, nil, 1, P); err != nil {
			return nil, err
		}
		for l := range kc.K {
			G := kc.Heads[l]
			if len(comp) < P*2*G*d {
				comp = make([]T, P*2*G*d)
			}
			// The component heads, from the saved normalised input (with HLC
			// the step itself projects straight to composite heads).
			w := m.w.layers[l][pWQKV][H*d*D:]
			m.gemm(false, true, P, 2*G*d, D, 1, m.acts.layers[l].xn1, D, w, D, 0, comp, 2*G*d)
			ropeForward(comp, P, P, 2*G*d, 0, G, d, 0, m.cos, m.sin)
			n := kc.Cap * G * d
			for u := 0; u < P; u++ {
				copy(kc.K[l][b*n+u*G*d:b*n+(u+1)*G*d], comp[u*2*G*d:])
				copy(kc.V[l][b*n+u*G*d:b*n+(u+1)*G*d], comp[u*2*G*d+G*d:])
			}
		}
		copy(kc.logits[b*V:(b+1)*V], m.Logits(P-1))
	}
	kc.Len = P
	return kc.logits, nil
}

// sharedWith returns an earlier sequence whose prompt is the same slice as
// sequence b's, or -1.
func sharedWith(prompts [][]int32, b int) int {
	for s := 0; s < b; s++ {
		if len(prompts[s]) == len(prompts[b]) && &prompts[s][0] == &prompts[b][0] {
			return s
		}
	}
	return -1
}

func (m *Model[T]) fits(kc *KVCache[T]) bool {
	if len(kc.Heads) != m.Cfg.Layers || kc.HeadDim != m.Cfg.HeadDim() {
		return false
	}
	for l, g := range kc.Heads {
		if g != m.Cfg.KV(l) {
			return false
		}
	}
	return true
}

// mixWeight is W[i,j] of the learned mixing matrix, or of the fixed MHA/GQA
// grouping when W is nil.
func mixWeight[T Float](W []T, i, j, G, H int) T {
	if W == nil {
		if groupOf(j, G, H) == i {
			return 1
		}
		return 0
	}
	return W[i*H+j]
}

// Sampler picks tokens from logits: temperature 0 is greedy, TopK 0 keeps
// the whole vocabulary.
type Sampler struct {
	Temperature float64
	TopK        int
	rng         *rand.Rand
	idx         []int
	p           []float64
}

// NewSampler returns a seeded sampler.
func NewSampler(temperature float64, topK int, seed uint64) *Sampler {
	return &Sampler{Temperature: temperature, TopK: topK, rng: rand.New(rand.NewPCG(seed, seed+1))}
}

// Sample draws one token.
func Sample[T Float](s *Sampler, logits []T) int32 {
	V := len(logits)
	if s.Temperature <= 0 {
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		return int32(best)
	}
	if cap(s.idx) < V {
		s.idx, s.p = make([]int, V), make([]float64, V)
	}
	idx, p := s.idx[:V], s.p[:V]
	for i := range idx {
		idx[i] = i
	}
	k := V
	if s.TopK > 0 && s.TopK < V {
		sort.Slice(idx, func(a, b int) bool { return logits[idx[a]] > logits[idx[b]] })
		k = s.TopK
	}
	mx := math.Inf(-1)
	for _, i := range idx[:k] {
		mx = max(mx, float64(logits[i]))
	}
	var sum float64
	for n, i := range idx[:k] {
		p[n] = math.Exp((float64(logits[i]) - mx) / s.Temperature)
		sum += p[n]
	}
	r := s.rng.Float64() * sum
	for n := range idx[:k] {
		r -= p[n]
		if r <= 0 {
			return int32(idx[n])
		}
	}
	return int32(idx[k-1])
}

// Generate feeds prompt through a fresh cache, then samples n tokens. It
// returns the sampled tokens (the prompt excluded) and the cache, whose
// Bytes the caller can show next to Config.KVBytesPerToken.
func (m *Model[T]) Generate(prompt []int32, n int, s *Sampler) ([]int32, *KVCache[T], error) {
	if len(prompt) == 0 {
		return nil, nil, fmt.Errorf("generation needs a prompt of at least one token")
	}
	capacity := min(len(prompt)+n, m.Cfg.Context)
	kc, err := m.NewCache(capacity)
	if err != nil {
		return nil, nil, err
	}
	var logits []T
	for _, t := range prompt[max(0, len(prompt)-capacity):] {
		if logits, err = m.DecodeStep(kc, t); err != nil {
			return nil, nil, err
		}
	}
	out := make([]int32, 0, n)
	for len(out) < n {
		t := Sample(s, logits)
		out = append(out, t)
		if len(out) == n || kc.Len == kc.Cap {
			break
		}
		if logits, err = m.DecodeStep(kc, t); err != nil {
			return nil, nil, err
		}
	}
	return out, kc, nil
}
