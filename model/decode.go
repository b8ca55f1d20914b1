package model

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"unsafe"
)

// KVCache holds, per layer, the RoPE'd keys and the values of the component
// heads for every position decoded so far: KVHeads heads (H for MHA, G for
// GQA, h' for MEA with virtual heads). Composite heads are never stored; MEA
// rebuilds them from the component heads at attention time.
type KVCache[T Float] struct {
	Heads        []int // cached heads per layer
	HeadDim, Cap int
	K, V         [][]T // per layer: (Cap, Heads[l], HeadDim)
	Len          int   // positions filled

	// Decode scratch, allocated with the cache so decoding never allocates.
	x, xn, qkv, o, gn, ab, h, tmp, logits []T
	att                                   []float64
	rstd                                  []T
	vs                                    []T
	kIdx, vIdx                            []int
	kW                                    []T
	qMix, scores, zMix                    []T // learned-mixing scratch: (H, G d), (H, Cap), (H, G d)
}

// NewCache allocates a cache for up to capacity positions (at most the
// model's context).
func (m *Model[T]) NewCache(capacity int) (*KVCache[T], error) {
	c := m.Cfg
	if capacity <= 0 || capacity > c.Context {
		return nil, fmt.Errorf("cache capacity %d is outside 1..%d (the model's context)", capacity, c.Context)
	}
	d, H, D, F := c.HeadDim(), c.Heads, c.Width, c.MLP
	kc := &KVCache[T]{HeadDim: d, Cap: capacity}
	maxG := 0
	for l := range c.Layers {
		G := c.KV(l)
		maxG = max(maxG, G)
		kc.Heads = append(kc.Heads, G)
		kc.K = append(kc.K, make([]T, capacity*G*d))
		kc.V = append(kc.V, make([]T, capacity*G*d))
	}
	kc.x, kc.xn = make([]T, D), make([]T, D)
	kc.qkv = make([]T, (H+2*maxG)*d)
	kc.o, kc.gn = make([]T, H*d), make([]T, H*d)
	kc.ab, kc.h = make([]T, 2*F), make([]T, F)
	kc.tmp = make([]T, D)
	kc.logits = make([]T, c.Vocab)
	kc.att = make([]float64, capacity)
	kc.rstd = make([]T, H)
	kc.vs = make([]T, maxG*d)
	kc.kIdx, kc.vIdx, kc.kW = make([]int, 0, maxG), make([]int, 0, maxG), make([]T, 0, maxG)
	if c.HLC {
		kc.qMix, kc.scores, kc.zMix = make([]T, H*maxG*d), make([]T, H*capacity), make([]T, H*maxG*d)
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

// BytesPerToken is Bytes divided by the capacity.
func (kc *KVCache[T]) BytesPerToken() int64 { return kc.Bytes() / int64(kc.Cap) }

// Reset empties the cache without freeing it.
func (kc *KVCache[T]) Reset() { kc.Len = 0 }

// DecodeStep feeds one token at position kc.Len and returns the logits for
// the next token (valid until the next call).
func (m *Model[T]) DecodeStep(kc *KVCache[T], token int32) ([]T, error) {
	c := m.Cfg
	if kc.Len >= kc.Cap {
		return nil, fmt.Errorf("the KV cache is full (%d positions); reset it or allocate a larger one", kc.Cap)
	}
	if !m.fits(kc) {
		return nil, fmt.Errorf("the KV cache was made for another shape of model; allocate a new one with NewCache")
	}
	if token < 0 || int(token) >= c.Vocab {
		return nil, fmt.Errorf("token %d is outside the vocabulary of %d", token, c.Vocab)
	}
	D, H, d, F, V := c.Width, c.Heads, c.HeadDim(), c.MLP, c.Vocab
	pos := kc.Len
	scale := 1 / math.Sqrt(float64(d))
	copy(kc.x, m.w.emb[int(token)*D:(int(token)+1)*D])
	var r [1]T
	for l := 0; l < c.Layers; l++ {
		lw := &m.w.layers[l]
		G := c.KV(l)
		C3 := (H + 2*G) * d
		rmsnormForward(kc.xn, r[:], kc.x, lw[pAttnNorm], 1, D, 1)
		m.gemm(false, true, 1, C3, D, 1, kc.xn, D, lw[pWQKV], D, 0, kc.qkv, C3)
		ropeForward(kc.qkv, 1, 1, C3, 0, H+G, d, pos, m.cos, m.sin)
		K, Vc := kc.K[l], kc.V[l]
		copy(K[pos*G*d:(pos+1)*G*d], kc.qkv[H*d:(H+G)*d])
		copy(Vc[pos*G*d:(pos+1)*G*d], kc.qkv[(H+G)*d:])
		wk, wv := lw[pWlcK], lw[pWlcV]
		if c.HLC {
			m.decodeMixedAttention(kc, wk, wv, K, Vc, pos, G, scale)
		}
		for j := 0; j < H && !c.HLC; j++ {
			q := kc.qkv[j*d : (j+1)*d]
			att := kc.att[:pos+1]
			// Score against the composite key: q . sum_i Wk[i,j] k_i =
			// sum_i Wk[i,j] (q . k_i), so composite keys are never stored.
			// The component heads that feed composite head j, and how much.
			kIdx, kW := kc.kIdx[:0], kc.kW[:0]
			for i := 0; i < G; i++ {
				if w := mixWeight(wk, i, j, G, H); w != 0 {
					kIdx, kW = append(kIdx, i), append(kW, w)
				}
			}
			mx := math.Inf(-1)
			for u := 0; u <= pos; u++ {
				var s float64
				for n, i := range kIdx {
					ku := K[(u*G+i)*d : (u*G+i+1)*d]
					var dot T
					for e, qv := range q {
						dot += qv * ku[e]
					}
					s += float64(kW[n]) * float64(dot)
				}
				s *= scale
				att[u] = s
				mx = max(mx, s)
			}
			var sum float64
			for u := range att {
				att[u] = math.Exp(att[u] - mx)
				sum += att[u]
			}
			// o_j = sum_i Wv[i,j] (sum_u p_u v_{u,i}).
			vIdx := kc.vIdx[:0]
			for i := 0; i < G; i++ {
				if mixWeight(wv, i, j, G, H) != 0 {
					vIdx = append(vIdx, i)
				}
			}
			clear(kc.vs)
			for u := range att {
				p := T(att[u] / sum)
				for _, i := range vIdx {
					vu := Vc[(u*G+i)*d : (u*G+i+1)*d]
					acc := kc.vs[i*d : (i+1)*d]
					for e, v := range vu {
						acc[e] += p * v
					}
				}
			}
			o := kc.o[j*d : (j+1)*d]
			clear(o)
			for i := 0; i < G; i++ {
				w := mixWeight(wv, i, j, G, H)
				if w == 0 {
					continue
				}
				for e, v := range kc.vs[i*d : (i+1)*d] {
					o[e] += w * v
				}
			}
		}
		gn := kc.o
		if c.GroupNorm {
			rmsnormForward(kc.gn, kc.rstd, kc.o, lw[pHeadNorm], H, d, H)
			gn = kc.gn
		}
		m.gemm(false, true, 1, D, H*d, 1, gn, H*d, lw[pWO], H*d, 1, kc.x, D)
		rmsnormForward(kc.xn, r[:], kc.x, lw[pFFNNorm], 1, D, 1)
		m.gemm(false, true, 1, 2*F, D, 1, kc.xn, D, lw[pW13], D, 0, kc.ab, 2*F)
		swigluForward(kc.h, nil, kc.ab, 1, F)
		m.gemm(false, true, 1, D, F, 1, kc.h, F, lw[pW2], F, 1, kc.x, D)
	}
	rmsnormForward(kc.xn, r[:], kc.x, m.w.normF, 1, D, 1)
	m.gemm(false, true, 1, V, D, 1, kc.xn, D, m.w.lmHead, D, 0, kc.logits, V)
	kc.Len++
	return kc.logits, nil
}

// decodeMixedAttention is attention at one position for learned mixing
// (HLC/MEA), written into kc.o. The composite key of head j is never built:
// q_j . sum_i Wk[i,j] k_i = [Wk[0,j] q_j, ..., Wk[h'-1,j] q_j] . [k_0, ...,
// k_{h'-1}], and a cache row holds exactly [k_0 ... k_{h'-1}] contiguously,
// so all heads' scores over all positions are one matrix product against
// the cache, and so are the value sums; the mixing of values is applied
// afterwards. Same arithmetic as mixing first, at matrix-product speed.
func (m *Model[T]) decodeMixedAttention(kc *KVCache[T], wk, wv, K, Vc []T, pos, G int, scale float64) {
	c := m.Cfg
	H, d := c.Heads, c.HeadDim()
	L, gd := pos+1, G*d
	qm, S, Z := kc.qMix[:H*gd], kc.scores[:H*L], kc.zMix[:H*gd]
	for j := 0; j < H; j++ {
		q := kc.qkv[j*d : (j+1)*d]
		for i := 0; i < G; i++ {
			w := wk[i*H+j]
			dst := qm[j*gd+i*d : j*gd+(i+1)*d]
			for e, v := range q {
				dst[e] = w * v
			}
		}
	}
	m.gemm(false, true, H, L, gd, T(scale), qm, gd, K, gd, 0, S, L)
	for j := 0; j < H; j++ {
		row := S[j*L : (j+1)*L]
		mx := float64(row[0])
		for _, v := range row {
			mx = max(mx, float64(v))
		}
		var sum float64
		for u, v := range row {
			e := math.Exp(float64(v) - mx)
			row[u] = T(e)
			sum += e
		}
		inv := T(1 / sum)
		for u := range row {
			row[u] *= inv
		}
	}
	m.gemm(false, false, H, gd, L, 1, S, L, Vc, gd, 0, Z, gd)
	for j := 0; j < H; j++ {
		o := kc.o[j*d : (j+1)*d]
		clear(o)
		for i := 0; i < G; i++ {
			w := wv[i*H+j]
			for e, v := range Z[j*gd+i*d : j*gd+(i+1)*d] {
				o[e] += w * v
			}
		}
	}
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
