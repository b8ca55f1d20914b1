package cpu

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
