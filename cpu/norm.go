package cpu

import "math"

// RMSNorm rows for the model's RMSNorm and per-head GroupNorm (model.NormMath).
// Row r of x (dim floats) is normalised by rstd[r] = 1/sqrt(mean(x^2) + eps)
// and multiplied by gain[(r%P)*dim:], the gain of its period.

// RMSNormRows computes out and rstd for R rows.
func RMSNormRows(out, rstd, x, gain []float32, R, dim, P int, eps float64) {
	if R <= 0 || dim <= 0 {
		return
	}
	_, _, _ = out[R*dim-1], rstd[R-1], x[R*dim-1]
	_ = gain[P*dim-1]
	for r := 0; r < R; r++ {
		xr := x[r*dim : (r+1)*dim]
		s := float32(1 / math.Sqrt(float64(sumSquares32(xr))/float64(dim)+eps))
		rstd[r] = s
		scaleMul(out[r*dim:(r+1)*dim], xr, gain[(r%P)*dim:(r%P+1)*dim], s)
	}
}

// RMSNormBackRows writes (or, with add, adds) into dx the input gradient of
// RMSNormRows for R rows: dx = s (g dout - x s^2 mean(g dout x)).
func RMSNormBackRows(dx, dout, x, gain, rstd []float32, R, dim, P int, add bool) {
	if R <= 0 || dim <= 0 {
		return
	}
	_, _, _, _ = dx[R*dim-1], dout[R*dim-1], x[R*dim-1], rstd[R-1]
	_ = gain[P*dim-1]
	for r := 0; r < R; r++ {
		xr, dr := x[r*dim:(r+1)*dim], dout[r*dim:(r+1)*dim]
		g := gain[(r%P)*dim : (r%P+1)*dim]
		s := rstd[r]
		c := dot3(dr, g, xr) * s * s / float32(dim)
		rmsBack(dx[r*dim:(r+1)*dim], dr, g, xr, s, c, add)
	}
}

// sumSquares32 returns the sum of x[i]^2.
func sumSquares32(x []float32) float32 {
	n := 0
	var s float32
	if len(x) >= 8 && sumSquaresVec != nil {
		n = len(x) &^ 7
		s = sumSquaresVec(&x[0], n)
	}
	for _, v := range x[n:] {
		s += v * v
	}
	return s
}

// scaleMul sets o[i] = (x[i]*s)*g[i].
func scaleMul(o, x, g []float32, s float32) {
	o, g = o[:len(x)], g[:len(x)]
	n := 0
	if len(x) >= 8 && scaleMulVec != nil {
		n = len(x) &^ 7
		scaleMulVec(&o[0], &x[0], &g[0], n, s)
	}
	for i := n; i < len(x); i++ {
		o[i] = float32(x[i]*s) * g[i]
	}
}

// dot3 returns the sum of (a[i]*b[i])*c[i].
func dot3(a, b, c []float32) float32 {
	b, c = b[:len(a)], c[:len(a)]
	n := 0
	var s float32
	if len(a) >= 8 && dot3Vec != nil {
		n = len(a) &^ 7
		s = dot3Vec(&a[0], &b[0], &c[0], n)
	}
	for i := n; i < len(a); i++ {
		s += float32(a[i]*b[i]) * c[i]
	}
	return s
}

// rmsBack sets (or adds into) o[i] = s*(dr[i]*g[i] - x[i]*c).
func rmsBack(o, dr, g, x []float32, s, c float32, add bool) {
	o, g, x = o[:len(dr)], g[:len(dr)], x[:len(dr)]
	n := 0
	if len(dr) >= 8 && rmsBackVec != nil {
		n = len(dr) &^ 7
		a := 0
		if add {
			a = 1
		}
		rmsBackVec(&o[0], &dr[0], &g[0], &x[0], n, s, c, a)
	}
	for i := n; i < len(dr); i++ {
		v := s * (float32(dr[i]*g[i]) - float32(x[i]*c))
		if add {
			o[i] += v
		} else {
			o[i] = v
		}
	}
}

// The assembly halves of the row kernels for n a positive multiple of 8;
// set by the amd64 build.
var (
	sumSquaresVec func(x *float32, n int) float32
	scaleMulVec   func(o, x, g *float32, n int, s float32)
	dot3Vec       func(a, b, c *float32, n int) float32
	rmsBackVec    func(o, dr, g, x *float32, n int, s, c float32, add int)
)

// RMSNormRows is the package's RMSNormRows (model.NormMath).
func (Compute) RMSNormRows(out, rstd, x, gain []float32, R, dim, P int, eps float64) {
	RMSNormRows(out, rstd, x, gain, R, dim, P, eps)
}

// RMSNormBackRows is the package's RMSNormBackRows (model.NormMath).
func (Compute) RMSNormBackRows(dx, dout, x, gain, rstd []float32, R, dim, P int, add bool) {
	RMSNormBackRows(dx, dout, x, gain, rstd, R, dim, P, add)
}
