package cpu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// guardBits is the payload of the NaN that fills every element a call must not
// touch; comparing bits (not values) catches a write of any other NaN as well.
const guardBits = 0x7fc0dead

var guardNaN = math.Float32frombits(guardBits)

// guard is the number of guard elements before and after every matrix.
const guard = 37

// guarded is a rows x cols matrix with row stride ld inside a buffer whose guard
// regions and row padding hold guardNaN.
type guarded struct {
	buf            []float32
	rows, cols, ld int
	data           []float32 // buf[guard:], what Sgemm sees.
}

func newGuarded(rng *rand.Rand, rows, cols, ld int, fill func() float32) *guarded {
	size := 0
	if rows > 0 && cols > 0 {
		size = (rows-1)*ld + cols
	}
	g := &guarded{buf: make([]float32, guard+size+guard), rows: rows, cols: cols, ld: ld}
	for i := range g.buf {
		g.buf[i] = guardNaN
	}
	g.data = g.buf[guard : guard+size]
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			g.data[i*ld+j] = fill()
		}
	}
	return g
}

func (g *guarded) inside(idx int) bool {
	idx -= guard
	if idx < 0 || idx >= len(g.data) {
		return false
	}
	return idx%g.ld < g.cols
}

func (g *guarded) clone() *guarded {
	h := *g
	h.buf = append([]float32(nil), g.buf...)
	h.data = h.buf[guard : guard+len(g.data)]
	return &h
}

// checkGuards reports any guard or padding element that is no longer guardNaN.
func (g *guarded) checkGuards(t *testing.T, name string) {
	t.Helper()
	for i, v := range g.buf {
		if !g.inside(i) && math.Float32bits(v) != guardBits {
			t.Fatalf("%s: guard element %d overwritten with %v", name, i-guard, v)
		}
	}
}

// forEachKernel runs f once per micro-kernel this CPU can execute, with Sgemm
// switched to that kernel, so the assembly and the pure-Go kernel see the same
// tests in one run, and once more with every shape sent down the direct path.
func forEachKernel(t *testing.T, f func(t *testing.T)) {
	saved := kernel
	defer func() { kernel = saved }()
	for _, k := range availableKernels() {
		kernel = k
		t.Run(k.name, f)
	}
	// The unpacked path for small products, forced onto every shape.
	kernel = saved
	forceDirect = true
	defer func() { forceDirect = false }()
	t.Run("direct", f)
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	padA, padB     int // extra row stride beyond the minimum.
	padC           int
}

func (tc gemmCase) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d alpha=%v beta=%v pad=%d,%d,%d",
		tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, tc.beta, tc.padA, tc.padB, tc.padC)
}

// checkCase runs one case through Sgemm and SgemmRef and compares them, the
// guards and the inputs.
func checkCase(t *testing.T, rng *rand.Rand, tc gemmCase) {
	t.Helper()
	val := func() float32 { return float32(rng.Float64()*2 - 1) }
	aRows, aCols := tc.m, tc.k
	if tc.transA {
		aRows, aCols = tc.k, tc.m
	}
	bRows, bCols := tc.k, tc.n
	if tc.transB {
		bRows, bCols = tc.n, tc.k
	}
	A := newGuarded(rng, aRows, aCols, max(1, aCols+tc.padA), val)
	B := newGuarded(rng, bRows, bCols, max(1, bCols+tc.padB), val)
	cInit := val
	if tc.beta == 0 {
		// With beta == 0 the old C must not leak into the result, NaN or not.
		cInit = func() float32 { return float32(math.NaN()) }
	}
	C := newGuarded(rng, tc.m, tc.n, max(1, tc.n+tc.padC), cInit)
	A0, B0, C0 := A.clone(), B.clone(), C.clone()
	R := C.clone()

	Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, A.data, A.ld, B.data, B.ld, tc.beta, C.data, C.ld)
	SgemmRef(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, A.data, A.ld, B.data, B.ld, tc.beta, R.data, R.ld)

	for i := range A.buf {
		if math.Float32bits(A.buf[i]) != math.Float32bits(A0.buf[i]) {
			t.Fatalf("%v: A modified at %d", tc, i-guard)
		}
	}
	for i := range B.buf {
		if math.Float32bits(B.buf[i]) != math.Float32bits(B0.buf[i]) {
			t.Fatalf("%v: B modified at %d", tc, i-guard)
		}
	}
	C.checkGuards(t, tc.String())

	// Error bound: Sgemm sums k products in float32 in some fixed order, whose
	// rounding error is at most about k*u*sum|a||b| (u = 2^-24, the classic bound
	// for recursive or blocked summation, fused or not). Scaling by alpha, adding
	// beta*C and the reference's own final rounding add a few more u, so the
	// tolerance uses (k+4)*u, doubled for slack, times the magnitude of every term
	// that enters the element. The float64 reference itself is exact to about u.
	const u = 1.0 / (1 << 24)
	for i := 0; i < tc.m; i++ {
		for j := 0; j < tc.n; j++ {
			var mag float64
			for p := 0; p < tc.k; p++ {
				var av, bv float32
				if tc.transA {
					av = A.data[p*A.ld+i]
				} else {
					av = A.data[i*A.ld+p]
				}
				if tc.transB {
					bv = B.data[j*B.ld+p]
				} else {
					bv = B.data[p*B.ld+j]
				}
				mag += math.Abs(float64(av) * float64(bv))
			}
			mag *= math.Abs(float64(tc.alpha))
			if tc.beta != 0 {
				mag += math.Abs(float64(tc.beta) * float64(C0.data[i*C.ld+j]))
			}
			tol := 2*float64(tc.k+4)*u*mag + 1e-30
			got, want := C.data[i*C.ld+j], R.data[i*R.ld+j]
			if math.IsNaN(float64(got)) || math.Abs(float64(got)-float64(want)) > tol {
				t.Fatalf("%v: C[%d,%d] = %v, want %v (tol %g)", tc, i, j, got, want, tol)
			}
		}
	}
}

var tableShapes = [][3]int{
	{1, 1, 1}, {1, 1, 7}, {1, 9, 1}, {9, 1, 1}, {2, 3, 4}, {7, 13, 5}, {12, 32, 1},
	{12, 32, 16}, {13, 33, 17}, {11, 31, 3}, {24, 64, 64}, {25, 65, 300},
	{65, 33, 129}, {300, 17, 257}, {17, 300, 257}, {64, 64, 64}, {100, 100, 100},
	{130, 70, 513}, {3, 200, 40}, {200, 3, 40}, {40, 40, 1}, {1, 300, 50}, {300, 1, 50},
	{197, 211, 260},
}

func TestSgemmTable(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, s := range tableShapes {
			for _, tA := range []bool{false, true} {
				for _, tB := range []bool{false, true} {
					for _, ab := range [][2]float32{{1, 0}, {1, 1}, {-0.5, 2}, {2, 0}, {0.75, -1}} {
						checkCase(t, rng, gemmCase{transA: tA, transB: tB, m: s[0], n: s[1], k: s[2], alpha: ab[0], beta: ab[1]})
					}
					checkCase(t, rng, gemmCase{transA: tA, transB: tB, m: s[0], n: s[1], k: s[2],
						alpha: 1.5, beta: 0.5, padA: 3, padB: 5, padC: 7})
				}
			}
		}
	})
}

func TestSgemmRandom(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		n := 150
		if testing.Short() {
			n = 30
		}
		for i := 0; i < n; i++ {
			dim := func() int {
				if rng.IntN(4) == 0 {
					return 1 + rng.IntN(8)
				}
				return 1 + rng.IntN(200)
			}
			tc := gemmCase{
				transA: rng.IntN(2) == 1, transB: rng.IntN(2) == 1,
				m: dim(), n: dim(), k: dim(),
				alpha: []float32{1, -1, 0.5, 3}[rng.IntN(4)],
				beta:  []float32{0, 1, -0.25, 2}[rng.IntN(4)],
				padA:  rng.IntN(3) * rng.IntN(9), padB: rng.IntN(3) * rng.IntN(9), padC: rng.IntN(3) * rng.IntN(9),
			}
			checkCase(t, rng, tc)
		}
	})
}

// TestSgemmBlocking crosses the kc, mc and nc block boundaries of every kernel,
// including k blocks of unequal length and several column blocks.
func TestSgemmBlocking(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		k := kernel
		shapes := [][3]int{
			{k.mc + 1, 2*k.nr + 3, 2*k.kc + 5},
			{2*k.mc - 1, k.nr, k.kc + 1},
			{k.mr, k.nc + 3, 3},
			{k.mr + 1, k.nc + k.nr + 1, k.kc},
		}
		for _, s := range shapes {
			for _, tA := range []bool{false, true} {
				for _, tB := range []bool{false, true} {
					checkCase(t, rng, gemmCase{transA: tA, transB: tB, m: s[0], n: s[1], k: s[2], alpha: 1, beta: 0.5, padC: 2})
				}
			}
		}
	})
}

func TestSgemmSpecialScalars(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 8))
		for _, s := range [][3]int{{5, 6, 7}, {70, 80, 90}} {
			// alpha == 0 and k == 0 reduce to scaling C.
			checkCase(t, rng, gemmCase{m: s[0], n: s[1], k: s[2], alpha: 0, beta: 0})
			checkCase(t, rng, gemmCase{m: s[0], n: s[1], k: s[2], alpha: 0, beta: 3})
			checkCase(t, rng, gemmCase{m: s[0], n: s[1], k: 0, alpha: 1, beta: 0})
			checkCase(t, rng, gemmCase{m: s[0], n: s[1], k: 0, alpha: 1, beta: -2, padC: 3})
		}
		// Empty shapes must not touch anything.
		checkCase(t, rng, gemmCase{m: 0, n: 5, k: 5, alpha: 1, beta: 0})
		checkCase(t, rng, gemmCase{m: 5, n: 0, k: 5, alpha: 1, beta: 0})
	})
}

// TestSgemmNaNInputs checks that NaNs in A and B do reach C: no path may skip a
// product on the grounds that a factor is zero.
func TestSgemmNaNInputs(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		for _, s := range [][3]int{{4, 4, 4}, {50, 70, 90}} {
			m, n, k := s[0], s[1], s[2]
			a := make([]float32, m*k)
			b := make([]float32, k*n)
			c := make([]float32, m*n)
			a[(m/2)*k+k/2] = float32(math.NaN()) // row m/2 of A.
			b[(k/2)*n+n/3] = 1
			Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
			for i := 0; i < m; i++ {
				for j := 0; j < n; j++ {
					isNaN := math.IsNaN(float64(c[i*n+j]))
					if isNaN != (i == m/2) {
						t.Fatalf("%v: C[%d,%d] = %v", s, i, j, c[i*n+j])
					}
				}
			}
		}
	})
}

func TestSgemmPanics(t *testing.T) {
	buf := make([]float32, 100)
	cases := []struct {
		name string
		f    func()
	}{
		{"negative m", func() { Sgemm(false, false, -1, 2, 2, 1, buf, 2, buf, 2, 0, buf, 2) }},
		{"small lda", func() { Sgemm(false, false, 2, 2, 3, 1, buf, 2, buf, 2, 0, buf, 2) }},
		{"small ldb trans", func() { Sgemm(false, true, 2, 2, 3, 1, buf, 3, buf, 2, 0, buf, 2) }},
		{"small ldc", func() { Sgemm(false, false, 2, 3, 2, 1, buf, 2, buf, 3, 0, buf, 2) }},
		{"short a", func() { Sgemm(false, false, 20, 2, 20, 1, buf, 20, buf, 2, 0, buf, 2) }},
		{"short c", func() { Sgemm(false, false, 2, 60, 2, 1, buf, 2, buf, 60, 0, buf, 60) }},
	}
	for _, tc := range cases {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			tc.f()
		}()
	}
}

// randMat returns n uniform values in [-1, 1).
func randMat(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.Float64()*2 - 1)
	}
	return s
}

// threadShapes are big enough for Sgemm to use several threads, with ragged edges
// so that thread bands end inside tiles.
var threadShapes = []gemmCase{
	{m: 301, n: 283, k: 260, alpha: 1, beta: 0},
	{transA: true, m: 250, n: 97, k: 530, alpha: 0.5, beta: 1},
	{transB: true, m: 37, n: 900, k: 200, alpha: 1, beta: -1},
	{transA: true, transB: true, m: 161, n: 161, k: 200, alpha: 2, beta: 0.25},
	{m: 2048, n: 64, k: 128, alpha: 1, beta: 0},
}

// runCase runs tc on fresh copies of shared inputs and returns C.
func runCase(tc gemmCase, a, b, c0 []float32) []float32 {
	lda, ldb := tc.k, tc.n
	if tc.transA {
		lda = tc.m
	}
	if tc.transB {
		ldb = tc.k
	}
	c := append([]float32(nil), c0...)
	Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, tc.n)
	return c
}

func sameBits(x, y []float32) bool {
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
			return false
		}
	}
	return true
}

func TestSgemmThreadsBitIdentical(t *testing.T) {
	saved := Threads()
	defer SetThreads(saved)
	for _, tc := range threadShapes {
		if mnk(tc.m, tc.n, tc.k) < parallelMinMNK {
			t.Fatalf("%v is too small to run on several threads", tc)
		}
	}
	forEachKernel(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 10))
		for _, tc := range threadShapes {
			a := randMat(rng, tc.m*tc.k)
			b := randMat(rng, tc.k*tc.n)
			c0 := randMat(rng, tc.m*tc.n)
			SetThreads(1)
			want := runCase(tc, a, b, c0)
			for _, nt := range []int{2, 3, 4} {
				SetThreads(nt)
				if got := runCase(tc, a, b, c0); !sameBits(got, want) {
					t.Errorf("%v: threads=%d differs from threads=1", tc, nt)
				}
			}
		}
	})
}

// TestSgemmConcurrent runs Sgemm from several goroutines at once and from inside
// ParallelFor; whoever gets the pool, every result must match the serial one.
func TestSgemmConcurrent(t *testing.T) {
	saved := Threads()
	defer SetThreads(saved)
	SetThreads(2)
	rng := rand.New(rand.NewPCG(11, 12))
	type job struct {
		tc       gemmCase
		a, b, c0 []float32
		want     []float32
	}
	var js []job
	for _, tc := range threadShapes {
		j := job{tc: tc, a: randMat(rng, tc.m*tc.k), b: randMat(rng, tc.k*tc.n), c0: randMat(rng, tc.m*tc.n)}
		j.want = runCase(tc, j.a, j.b, j.c0)
		js = append(js, j)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rep := 0; rep < 3; rep++ {
				for _, j := range js {
					if !sameBits(runCase(j.tc, j.a, j.b, j.c0), j.want) {
						errs <- fmt.Sprintf("goroutine %d: %v differs", g, j.tc)
					}
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Nested parallelism: every chunk calls Sgemm while the pool is busy.
		ParallelFor(len(js), func(lo, hi int) {
			for _, j := range js[lo:hi] {
				if !sameBits(runCase(j.tc, j.a, j.b, j.c0), j.want) {
					errs <- fmt.Sprintf("nested: %v differs", j.tc)
				}
			}
		})
	}()
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestSgemmAllocs(t *testing.T) {
	saved := Threads()
	defer SetThreads(saved)
	rng := rand.New(rand.NewPCG(13, 14))
	for _, nt := range []int{1, 2} {
		SetThreads(nt)
		for _, tc := range append(threadShapes, gemmCase{m: 20, n: 20, k: 20, alpha: 1}) {
			a := randMat(rng, tc.m*tc.k)
			b := randMat(rng, tc.k*tc.n)
			c := randMat(rng, tc.m*tc.n)
			lda, ldb := tc.k, tc.n
			if tc.transA {
				lda = tc.m
			}
			if tc.transB {
				ldb = tc.k
			}
			allocs := testing.AllocsPerRun(20, func() {
				Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, tc.n)
			})
			if allocs != 0 {
				t.Errorf("threads=%d %v: %v allocations per call", nt, tc, allocs)
			}
		}
	}
}

func TestFeatures(t *testing.T) {
	f := Features()
	switch f {
	case "avx512", "avx2+fma", "generic":
	default:
		t.Fatalf("Features() = %q", f)
	}
	t.Logf("kernel in use: %s; available: %d", f, len(availableKernels()))
}
