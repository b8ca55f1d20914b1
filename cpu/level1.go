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
