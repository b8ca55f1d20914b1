package cpu

import "math"

// A float32 exponential by polynomial, for the two places a training step
// spends its exps: softmax rows and SwiGLU. exp(x) = 2^n exp(r) with
// n = round(x log2 e) and r = x - n ln 2 (ln 2 split in two, Cody-Waite), and
// exp(r) from Cephes' expf polynomial on |r| <= ln2/2. Inputs are clamped to
// [-87.34, 88.38], where 2^n stays a normal number; the relative error is a
// few units in the last place (TestExpAccuracy). The assembly versions
// (gen_exp.go) run the same steps on 16 or 8 lanes; expf is the scalar one,
// used for the tails and in pure-Go builds.

const (
	expHi    = 88.3762626647949
	expLo    = -87.3365478515625
	expLog2e = 1.44269504088896341
	expLn2hi = 0.693359375
	expLn2lo = -2.12194440e-4
)

func expf(x float32) float32 {
	x = min(max(x, expLo), expHi)
	n := float32(math.RoundToEven(float64(x * expLog2e)))
	r := x - n*expLn2hi
	r -= n * expLn2lo
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	p = p*(r*r) + r + 1
	return math.Float32frombits(math.Float32bits(p) + uint32(int32(n))<<23)
}

// ExpShiftSum sets x[i] = exp(x[i] - shift) and returns the sum of the new
// values (in float32, several partial sums). With shift the row's maximum it
// is the body of a softmax.
func ExpShiftSum(x []float32, shift float32) float32 {
	n := 0
	var s float64
	switch {
	case len(x) == 0:
		return 0
	case expVecAnyLen:
		return expVec(x, shift)
	case expVec != nil && len(x) >= expLanes:
		n = len(x) / expLanes * expLanes
		s = float64(expVec(x[:n], shift))
	}
	for i := n; i < len(x); i++ {
		e := expf(x[i] - shift)
		x[i] = e
		s += float64(e)
	}
	return float32(s)
}

// SwiGLU sets sig[i] = 1/(1+exp(-a[i])) and h[i] = a[i]*sig[i]*b[i] for
// i < len(h): SiLU(a) times b, keeping sigma(a) for the backward pass.
func SwiGLU(h, sig, a, b []float32) {
	n := 0
	sig, a, b = sig[:len(h)], a[:len(h)], b[:len(h)]
	if swigluVec != nil && len(h) >= expLanes {
		n = len(h) / expLanes * expLanes
		swigluVec(h[:n], sig[:n], a[:n], b[:n])
	}
	for i := n; i < len(h); i++ {
		s := 1 / (1 + expf(-a[i]))
		sig[i] = s
		h[i] = a[i] * s * b[i]
	}
}

// SwiGLUBack is SwiGLU's backward pass for one row: from the gradient g at
// h, the gate a, the up projection b and the sig = sigma(a) SwiGLU kept, it
// sets da = g b sig (1 + a (1 - sig)) and db = g a sig.
func SwiGLUBack(da, db, g, a, b, sig []float32) {
	n := 0
	db, g, a, b, sig = db[:len(da)], g[:len(da)], a[:len(da)], b[:len(da)], sig[:len(da)]
	if swigluBackVec != nil && len(da) >= expLanes {
		n = len(da) / expLanes * expLanes
		swigluBackVec(da[:n], db[:n], g[:n], a[:n], b[:n], sig[:n])
	}
	for i := n; i < len(da); i++ {
		s, x := sig[i], a[i]
		da[i] = g[i] * b[i] * s * (1 + x*(1-s))
		db[i] = g[i] * x * s
	}
}

// MinMax returns the smallest and largest elements of x (not empty).
func MinMax(x []float32) (lo, hi float32) {
	if minMaxVec != nil {
		return minMaxVec(x)
	}
	lo, hi = x[0], x[0]
	for _, v := range x[1:] {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

// MaxF32 returns the largest element of x (which must not be empty).
func MaxF32(x []float32) float32 {
	m0, m1, m2, m3 := x[0], x[0], x[0], x[0]
	n := len(x) &^ 3
	for i := 0; i < n; i += 4 {
		m0, m1, m2, m3 = max(m0, x[i]), max(m1, x[i+1]), max(m2, x[i+2]), max(m3, x[i+3])
	}
	for _, v := range x[n:] {
		m0 = max(m0, v)
	}
	return max(max(m0, m1), max(m2, m3))
}

// expVec and swigluVec, when set by the amd64 build, handle lengths that are
// multiples of expLanes.
// expVecAnyLen says expVec takes any length (its tail is masked).
var (
	expLanes      = 1
	expVecAnyLen  bool
	expVec        func(x []float32, shift float32) float32
	swigluVec     func(h, sig, a, b []float32)
	swigluBackVec func(da, db, g, a, b, sig []float32)
	minMaxVec     func(x []float32) (lo, hi float32)
)

// ExpShiftSum is the package's ExpShiftSum (model.VecMath).
func (Compute) ExpShiftSum(x []float32, shift float32) float32 { return ExpShiftSum(x, shift) }

// SwiGLUBack is the package's SwiGLUBack (model.VecMath).
func (Compute) SwiGLUBack(da, db, g, a, b, sig []float32) { SwiGLUBack(da, db, g, a, b, sig) }

// MinMax is the package's MinMax (model.VecMath).
func (Compute) MinMax(x []float32) (lo, hi float32) { return MinMax(x) }

// SwiGLU is the package's SwiGLU (model.VecMath).
func (Compute) SwiGLU(h, sig, a, b []float32) { SwiGLU(h, sig, a, b) }
