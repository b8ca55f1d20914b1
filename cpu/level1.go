package cpu

import "math"

// Sdot returns the dot product of x and y[:len(x)]. Its summation order is fixed
// for a given build and CPU (the vector code keeps several partial sums), so the
// result is reproducible but may differ in the last bits from a plain loop.
func Sdot(x, y []float32) float32 {
	y = y[:len(x)]
	n := 0
	var s float32
	if len(x) >= 32 && sdotVec != nil {
		n = len(x) &^ 31
		s = sdotVec(x[:n], y[:n])
	}
	for i := n; i < len(x); i++ {
		s += x[i] * y[i]
	}
	return s
}

// Saxpy computes y[i] += alpha*x[i] for i < len(x).
func Saxpy(alpha float32, x, y []float32) {
	y = y[:len(x)]
	n := 0
	if len(x) >= 32 && saxpyVec != nil {
		n = len(x) &^ 31
		saxpyVec(alpha, x[:n], y[:n])
	}
	for i := n; i < len(x); i++ {
		y[i] += alpha * x[i]
	}
}

// sdotVec and saxpyVec, when not nil, are assembly versions for lengths that are
// positive multiples of 32; they are set by the amd64 build.
var (
	sdotVec  func(x, y []float32) float32
	saxpyVec func(alpha float32, x, y []float32)
)

// AddMulScaled computes acc[i] += (a[i]*b[i])*s for i < len(acc), rounding
// after each operation (no fused multiply-add), so that every element's
// result is the same whichever path, vector or scalar, computed it.
func AddMulScaled(acc, a, b []float32, s float32) {
	if len(a) < len(acc) || len(b) < len(acc) { // a[:len(acc)] alone would reach into cap
		panic("cpu: AddMulScaled: a or b is shorter than acc")
	}
	a, b = a[:len(acc)], b[:len(acc)]
	n := 0
	if len(acc) >= 8 && addMulScaledVec != nil {
		n = len(acc) &^ 7
		addMulScaledVec(&acc[0], &a[0], &b[0], n, s)
	}
	for i := n; i < len(acc); i++ {
		p := float32(a[i] * b[i])
		acc[i] += float32(p * s)
	}
}

// addMulScaledVec, when not nil, is AddMulScaled in assembly for n a
// positive multiple of 8; set by the amd64 build.
var addMulScaledVec func(acc, a, b *float32, n int, s float32)

// AddMulScaled is the package's AddMulScaled (model.GainMath).
func (Compute) AddMulScaled(acc, a, b []float32, s float32) { AddMulScaled(acc, a, b, s) }

// AdamWUpdate applies one AdamW step to every element i of p, in float32,
// rounding after each operation (no fused multiply-add, so the vector and
// scalar paths give the same bits and the result does not depend on how the
// elements are split over threads):
//
//	m[i] = b1*m[i] + (1-b1)*g[i]
//	v[i] = b2*v[i] + ((1-b2)*g[i])*g[i]
//	p[i] = p[i]*shrink - (step*m[i]) / (sqrt(v[i])*invSqrtBC2 + eps)
func AdamWUpdate(p, g, m, v []float32, b1, b2, shrink, step, invSqrtBC2, eps float32) {
	if len(g) < len(p) || len(m) < len(p) || len(v) < len(p) { // g[:len(p)] alone would reach into cap
		panic("cpu: AdamWUpdate: g, m or v is shorter than p")
	}
	g, m, v = g[:len(p)], m[:len(p)], v[:len(p)]
	c1, c2 := 1-b1, 1-b2
	n := 0
	if len(p) >= 8 && adamWVec != nil {
		n = len(p) &^ 7
		adamWVec(&p[0], &g[0], &m[0], &v[0], n, b1, c1, b2, c2, shrink, step, invSqrtBC2, eps)
	}
	for i := n; i < len(p); i++ {
		gi := g[i]
		mi := float32(b1*m[i]) + float32(c1*gi)
		vi := float32(b2*v[i]) + float32(float32(c2*gi)*gi)
		m[i], v[i] = mi, vi
		den := float32(float32(sqrt32(vi))*invSqrtBC2) + eps
		p[i] = float32(p[i]*shrink) - float32(float32(step*mi)/den)
	}
}

func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

// adamWVec, when not nil, is AdamWUpdate in assembly for n a positive
// multiple of 8, given b1, 1-b1, b2, 1-b2, shrink, step, invSqrtBC2, eps.
var adamWVec func(p, g, m, v *float32, n int, b1, c1, b2, c2, shrink, step, invSqrtBC2, eps float32)

// AdamWUpdate is the package's AdamWUpdate (model.AdamWMath).
func (Compute) AdamWUpdate(p, g, m, v []float32, b1, b2, shrink, step, invSqrtBC2, eps float32) {
	AdamWUpdate(p, g, m, v, b1, b2, shrink, step, invSqrtBC2, eps)
}
