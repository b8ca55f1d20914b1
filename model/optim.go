package model

import "math"

// AdamWConfig holds the optimiser's hyperparameters.
type AdamWConfig struct {
	Beta1       float64 `json:"beta1"`        // 0.9
	Beta2       float64 `json:"beta2"`        // 0.95, as nanoGPT and the Llama recipes use
	Eps         float64 `json:"eps"`          // 1e-8
	WeightDecay float64 `json:"weight_decay"` // 0.1, the paper's setting
}

// DefaultAdamW is the paper's optimiser setting (AdamW, wd 0.1).
func DefaultAdamW() AdamWConfig {
	return AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}
}

// AdamW keeps the two moment slabs in the parameter layout. Weight decay is
// decoupled (Loshchilov & Hutter) and applies only to tensors whose
// TensorInfo.Decay is set: matrices and embeddings, not norm gains and not
// the HLC mixing matrices.
type AdamW[T Float] struct {
	Cfg   AdamWConfig
	M, V  []T
	Steps int64 // updates applied so far (the bias-correction t)
	decay []bool
	spans [][2]int
	// Parallel, when set, splits the update over elements (each element's
	// update is independent, so results do not depend on the split).
	Parallel func(n int, fn func(lo, hi int))

	// kernel, when set (UseKernels), updates a span in float32.
	kernel func(p, g, m, v []T, b1, b2, shrink, step, invSqrtBC2, eps T)

	params, grads []T
	lr            float64
	chunk         func(lo, hi int) // built once: a step allocates nothing
}

// NewAdamW returns zeroed moments for layout l.
func NewAdamW[T Float](cfg AdamWConfig, l *Layout) *AdamW[T] {
	o := &AdamW[T]{Cfg: cfg, M: make([]T, l.Size), V: make([]T, l.Size)}
	for _, t := range l.Tensors {
		o.spans = append(o.spans, [2]int{t.Off, t.Off + t.Len})
		o.decay = append(o.decay, t.Decay)
	}
	return o
}

// AdamWMath is what a backend may add to Compute: the AdamW update of a
// span in float32 (cpu.AdamWUpdate: each operation rounded, so the result
// does not depend on how Parallel splits the elements).
type AdamWMath interface {
	AdamWUpdate(p, g, m, v []float32, b1, b2, shrink, step, invSqrtBC2, eps float32)
}

// UseKernels makes float32 updates go through c's AdamWMath when it has
// one; float64 optimisers and other backends keep the float64 loop.
func (o *AdamW[T]) UseKernels(c Compute) {
	var zero T
	am, ok := c.(AdamWMath)
	if _, f32 := any(zero).(float32); !ok || !f32 {
		o.kernel = nil
		return
	}
	o.kernel = any(am.AdamWUpdate).(func(p, g, m, v []T, b1, b2, shrink, step, invSqrtBC2, eps T))
}

// Step applies one update with learning rate lr.
func (o *AdamW[T]) Step(params, grads []T, lr float64) {
	o.Steps++
	if o.Parallel == nil {
		o.update(params, grads, lr, 0, len(params))
		return
	}
	if o.chunk == nil {
		o.chunk = func(lo, hi int) { o.update(o.params, o.grads, o.lr, lo, hi) }
	}
	o.params, o.grads, o.lr = params, grads, lr
	o.Parallel(len(params), o.chunk)
	o.params, o.grads = nil, nil
}

// update applies the step to elements [lo, hi).
func (o *AdamW[T]) update(params, grads []T, lr float64, lo, hi int) {
	c := o.Cfg
	t := float64(o.Steps)
	bc1 := 1 - math.Pow(c.Beta1, t)
	bc2 := 1 - math.Pow(c.Beta2, t)
	b1, b2 := T(c.Beta1), T(c.Beta2)
	for s, sp := range o.spans {
		if sp[1] <= lo || sp[0] >= hi {
			continue
		}
		sp = [2]int{max(sp[0], lo), min(sp[1], hi)}
		wd := 0.0
		if o.decay[s] {
			wd = c.WeightDecay
		}
		shrink := T(1 - lr*wd)
		stepSize := lr / bc1
		sqrtBC2 := math.Sqrt(bc2)
		if o.kernel != nil {
			a, b := sp[0], sp[1]
			o.kernel(params[a:b], grads[a:b], o.M[a:b], o.V[a:b], b1, b2, shrink, T(stepSize), T(1/sqrtBC2), T(c.Eps))
			continue
		}
		for i := sp[0]; i < sp[1]; i++ {
			g := grads[i]
			m := b1*o.M[i] + (1-b1)*g
			v := b2*o.V[i] + (1-b2)*g*g
			o.M[i], o.V[i] = m, v
			denom := math.Sqrt(float64(v))/sqrtBC2 + c.Eps
			params[i] = params[i]*shrink - T(stepSize*float64(m)/denom)
		}
	}
}

// GradNorm is the global L2 norm of grads, summed in float64.
func GradNorm[T Float](grads []T) float64 {
	var s float64
	for _, g := range grads {
		s += float64(g) * float64(g)
	}
	return math.Sqrt(s)
}

// ClipGrads scales grads so that their global norm is at most maxNorm and
// returns the norm before clipping. maxNorm <= 0 disables clipping (the
// LR-stability question needs it off).
func ClipGrads[T Float](grads []T, maxNorm float64) float64 {
	n := GradNorm(grads)
	if maxNorm > 0 && n > maxNorm {
		s := T(maxNorm / n)
		for i := range grads {
			grads[i] *= s
		}
	}
	return n
}

// Schedule is a learning-rate schedule: linear warm-up to Peak over Warmup
// steps, then cosine decay to Peak*FloorFrac at Total steps (the paper decays
// to 10% of the peak).
type Schedule struct {
	Peak      float64 `json:"lr"`
	Warmup    int     `json:"warmup"`
	Total     int     `json:"steps"`
	FloorFrac float64 `json:"lr_floor"`
}

// LR returns the learning rate for step (0-based). It is a pure function.
func (s Schedule) LR(step int) float64 {
	if s.Warmup > 0 && step < s.Warmup {
		return s.Peak * float64(step+1) / float64(s.Warmup)
	}
	floor := s.Peak * s.FloorFrac
	if s.Total <= s.Warmup || step >= s.Total {
		if step >= s.Total && s.Total > s.Warmup {
			return floor
		}
		return s.Peak
	}
	p := float64(step-s.Warmup) / float64(s.Total-s.Warmup)
	return floor + (s.Peak-floor)*0.5*(1+math.Cos(math.Pi*p))
}
