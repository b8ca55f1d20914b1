package cpu

// Review tests for the head-mixing, RMSNorm and level-1 kernels: random
// shapes (every n, G, H, d and row stride, d a multiple of 8 or not), with
// guard cells around every slice and NaN in every cell a kernel must not
// read, on the vector and the scalar path; bit-identity of the vector and
// scalar paths where the package claims it; rejection of strides that would
// let the assembly touch memory the slices do not cover.

import (
	"math"
	"math/rand/v2"
	"testing"
)

// rvGuarded returns a slice of n floats (cap n) inside a buffer with g guard
// cells on each side, all set to fill; check reports whether the guards
// still hold fill.
func rvGuarded(n, g int, fill float32) (s []float32, check func() bool) {
	buf := make([]float32, n+2*g)
	for i := range buf {
		buf[i] = fill
	}
	same := func(v float32) bool { return math.Float32bits(v) == math.Float32bits(fill) }
	return buf[g : g+n : g+n], func() bool {
		for i := 0; i < g; i++ {
			if !same(buf[i]) || !same(buf[g+n+i]) {
				return false
			}
		}
		return true
	}
}

// rvSentinel marks cells a kernel must not write: a finite value, so that
// a read-modify-write past the end (acc += ...) changes it, where a NaN
// would keep its payload.
const rvSentinel = float32(-1234.5)

// rvPaths runs fn with the package's vector kernels, then with every
// vector kernel of this file's functions switched off.
func rvPaths(t *testing.T, fn func(t *testing.T, path string)) {
	mr, md := mixRowVec, mixDWRowVec
	ss, sm, d3, rb := sumSquaresVec, scaleMulVec, dot3Vec, rmsBackVec
	am, aw := addMulScaledVec, adamWVec
	defer func() {
		mixRowVec, mixDWRowVec = mr, md
		sumSquaresVec, scaleMulVec, dot3Vec, rmsBackVec = ss, sm, d3, rb
		addMulScaledVec, adamWVec = am, aw
	}()
	if mr != nil {
		fn(t, "vector")
	}
	mixRowVec, mixDWRowVec = nil, nil
	sumSquaresVec, scaleMulVec, dot3Vec, rmsBackVec = nil, nil, nil, nil
	addMulScaledVec, adamWVec = nil, nil
	fn(t, "scalar")
}

// rvShape draws the mixing shapes: d up to 72 (d/8 from 1 to 9 covers
// the four-chunk loop, its remainder and both alone), gaps up to 9 floats.
func rvShape(rng *rand.Rand) (n, G, H, d, gi, go_, gg int) {
	n = rng.IntN(70)
	if rng.IntN(4) == 0 {
		n = rng.IntN(3)
	}
	G, H = 1+rng.IntN(6), 1+rng.IntN(9)
	if rng.IntN(2) == 0 {
		d = 8 * (1 + rng.IntN(9))
	} else {
		d = 1 + rng.IntN(72)
	}
	if rng.IntN(3) > 0 {
		gi, go_, gg = rng.IntN(10), rng.IntN(10), rng.IntN(10)
	}
	return
}

// rvRows returns n rows of width w and stride w+gap, the last row without
// its gap, as a rvGuarded slice: cells of the rows hold values, gaps and
// guards hold gapFill.
func rvRows(rng *rand.Rand, n, w, gap int, gapFill float32) (s []float32, check func() bool) {
	ld := w + gap
	size := 0
	if n > 0 {
		size = (n-1)*ld + w
	}
	s, check = rvGuarded(size, 16, gapFill)
	for r := 0; r < n; r++ {
		for c := 0; c < w; c++ {
			s[r*ld+c] = float32(rng.NormFloat64())
		}
	}
	return s, check
}

func TestReviewMixHeadsRandomShapes(t *testing.T) {
	rvPaths(t, func(t *testing.T, path string) {
		rng := rand.New(rand.NewPCG(41, 42))
		for trial := 0; trial < 400; trial++ {
			n, G, H, d, gi, gout, _ := rvShape(rng)
			ldi, ldo := G*d+gi, H*d+gout
			// Every cell the kernel must not read is NaN; every cell it
			// must not write is the rvSentinel.
			in, _ := rvRows(rng, n, G*d, gi, float32(math.NaN()))
			w, _ := rvGuarded(G*H, 16, float32(math.NaN()))
			for i := range w {
				w[i] = float32(rng.NormFloat64())
			}
			out, outGuard := rvRows(rng, n, H*d, gout, rvSentinel)
			MixHeads(out, ldo, in, ldi, w, n, G, H, d)
			if !outGuard() {
				t.Fatalf("%s n=%d G=%d H=%d d=%d ldo=%d: wrote outside out", path, n, G, H, d, ldo)
			}
			for r := 0; r < n; r++ {
				for c := 0; c < ldo && r*ldo+c < len(out); c++ {
					got := out[r*ldo+c]
					if c >= H*d {
						if math.Float32bits(got) != math.Float32bits(rvSentinel) {
							t.Fatalf("%s n=%d G=%d H=%d d=%d: wrote into the gap of row %d", path, n, G, H, d, r)
						}
						continue
					}
					j, f := c/d, c%d
					var want, mag float64
					for i := 0; i < G; i++ {
						p := float64(w[i*H+j]) * float64(in[r*ldi+i*d+f])
						want += p
						mag += math.Abs(p)
					}
					if !(math.Abs(float64(got)-want) <= 1e-6*(1+mag)) {
						t.Fatalf("%s n=%d G=%d H=%d d=%d ldi=%d ldo=%d: out[%d][%d] = %v, want %v", path, n, G, H, d, ldi, ldo, r, c, got, want)
					}
				}
			}
		}
	})
}

func TestReviewMixHeadsDWRandomShapes(t *testing.T) {
	rvPaths(t, func(t *testing.T, path string) {
		rng := rand.New(rand.NewPCG(43, 44))
		for trial := 0; trial < 400; trial++ {
			n, G, H, d, gi, _, gg := rvShape(rng)
			ldi, ldg := G*d+gi, H*d+gg
			in, _ := rvRows(rng, n, G*d, gi, float32(math.NaN()))
			g, _ := rvRows(rng, n, H*d, gg, float32(math.NaN()))
			dw, dwGuard := rvGuarded(G*H, 16, rvSentinel)
			for i := range dw {
				dw[i] = 123 // overwritten
			}
			scr, scrGuard := rvGuarded(MixScratch(G, H), 16, rvSentinel)
			for i := range scr {
				scr[i] = float32(math.NaN()) // scratch comes dirty
			}
			MixHeadsDW(dw, scr, in, ldi, g, ldg, n, G, H, d)
			if !dwGuard() || !scrGuard() {
				t.Fatalf("%s n=%d G=%d H=%d d=%d: wrote outside dw or scratch", path, n, G, H, d)
			}
			for i := 0; i < G; i++ {
				for j := 0; j < H; j++ {
					var want, mag float64
					for r := 0; r < n; r++ {
						for f := 0; f < d; f++ {
							p := float64(in[r*ldi+i*d+f]) * float64(g[r*ldg+j*d+f])
							want += p
							mag += math.Abs(p)
						}
					}
					if got := float64(dw[i*H+j]); !(math.Abs(got-want) <= 1e-6*(1+mag)) {
						t.Fatalf("%s n=%d G=%d H=%d d=%d ldi=%d ldg=%d: dw[%d][%d] = %v, want %v", path, n, G, H, d, ldi, ldg, i, j, got, want)
					}
				}
			}
		}
	})
}

// A negative row stride is a caller's error: MixHeads and MixHeadsDW must
// refuse it before touching anything, never write past the end of out or
// read past the end of in (the wrappers check the last row only, which
// with a negative stride is not the row that reaches furthest).
func TestReviewMixHeadsNegativeStrideRefused(t *testing.T) {
	rvPaths(t, func(t *testing.T, path string) {
		const G, H, d = 1, 1, 8
		panics := func(fn func()) (p bool) {
			defer func() { p = recover() != nil }()
			fn()
			return false
		}
		in := make([]float32, 2*G*d)
		w := []float32{2}
		// out is one float short of a row; the float after it is a guard
		// in the same array.
		buf := make([]float32, H*d+8)
		for i := range buf {
			buf[i] = rvSentinel
		}
		out := buf[:H*d-1]
		if !panics(func() { MixHeads(out, -1, in, G*d, w, 2, G, H, d) }) {
			t.Fatalf("%s: MixHeads with ldo = -1 did not panic", path)
		}
		for i := len(out); i < len(buf); i++ {
			if math.Float32bits(buf[i]) != math.Float32bits(rvSentinel) {
				t.Fatalf("%s: MixHeads with ldo = -1 wrote buf[%d], past the end of out (len %d)", path, i, len(out))
			}
		}
		for i, v := range out {
			if math.Float32bits(v) != math.Float32bits(rvSentinel) {
				t.Fatalf("%s: MixHeads with ldo = -1 wrote out[%d] before failing", path, i)
			}
		}
		// in one float short of a row: nothing may be read or written.
		short := make([]float32, G*d-1, G*d+8)
		short = append(short, float32(math.NaN()))[:G*d-1]
		if !panics(func() { MixHeads(buf[:2*H*d], H*d, short, -1, w, 2, G, H, d) }) {
			t.Fatalf("%s: MixHeads with ldi = -1 did not panic", path)
		}
		for i, v := range buf {
			if math.Float32bits(v) != math.Float32bits(rvSentinel) {
				t.Fatalf("%s: MixHeads with ldi = -1 wrote out[%d] before failing", path, i)
			}
		}
		dw := []float32{5}
		g := make([]float32, 2*H*d)
		if !panics(func() { MixHeadsDW(dw, make([]float32, MixScratch(G, H)), short, -1, g, H*d, 2, G, H, d) }) {
			t.Fatalf("%s: MixHeadsDW with ldi = -1 did not panic", path)
		}
		if !panics(func() { MixHeadsDW(dw, make([]float32, MixScratch(G, H)), in, G*d, short, -1, 2, G, H, d) }) {
			t.Fatalf("%s: MixHeadsDW with ldg = -1 did not panic", path)
		}
		if dw[0] != 5 {
			t.Fatalf("%s: MixHeadsDW changed dw to %v on input it refused", path, dw[0])
		}
	})
}

// RMSNormRows and RMSNormBackRows for every width from 1 to 80 (vector
// prefix, scalar tail, two-chunk loop and its remainder), gain periods 1 to
// 4 with R not a multiple of P, against float64, with NaN guards around
// every input and sentinels around every output.
func TestReviewRMSNormRandomShapes(t *testing.T) {
	const eps = 1e-5
	rvPaths(t, func(t *testing.T, path string) {
		rng := rand.New(rand.NewPCG(45, 46))
		for dim := 1; dim <= 80; dim++ {
			P := 1 + rng.IntN(4)
			R := 1 + rng.IntN(9)
			nan := float32(math.NaN())
			x, _ := rvRows(rng, R, dim, 0, nan)
			gain, _ := rvRows(rng, P, dim, 0, nan)
			dout, _ := rvRows(rng, R, dim, 0, nan)
			out, outGuard := rvGuarded(R*dim, 16, rvSentinel)
			rstd, rstdGuard := rvGuarded(R, 16, rvSentinel)
			RMSNormRows(out, rstd, x, gain, R, dim, P, eps)
			add := rng.IntN(2) == 1
			dx, dxGuard := rvGuarded(R*dim, 16, rvSentinel)
			for i := range dx {
				dx[i] = float32(rng.NormFloat64())
			}
			before := append([]float32(nil), dx...)
			RMSNormBackRows(dx, dout, x, gain, rstd, R, dim, P, add)
			if !outGuard() || !rstdGuard() || !dxGuard() {
				t.Fatalf("%s dim %d P %d R %d: wrote outside an output", path, dim, P, R)
			}
			for r := 0; r < R; r++ {
				var ss float64
				for i := 0; i < dim; i++ {
					ss += float64(x[r*dim+i]) * float64(x[r*dim+i])
				}
				s := 1 / math.Sqrt(ss/float64(dim)+eps)
				if !(math.Abs(float64(rstd[r])-s) <= 1e-6*s) {
					t.Fatalf("%s dim %d P %d: rstd[%d] = %v, want %v", path, dim, P, r, rstd[r], s)
				}
				var dot, mag float64
				for i := 0; i < dim; i++ {
					g := float64(gain[(r%P)*dim+i])
					want := float64(x[r*dim+i]) * s * g
					if got := float64(out[r*dim+i]); !(math.Abs(got-want) <= 1e-6*(1+math.Abs(want))) {
						t.Fatalf("%s dim %d P %d: out[%d][%d] = %v, want %v", path, dim, P, r, i, got, want)
					}
					p := float64(dout[r*dim+i]) * g * float64(x[r*dim+i])
					dot += p
					mag += math.Abs(p)
				}
				c := dot * s * s / float64(dim)
				cErr := 1e-6 * mag * s * s / float64(dim)
				for i := 0; i < dim; i++ {
					g := float64(gain[(r%P)*dim+i])
					xi := float64(x[r*dim+i])
					want := s * (float64(dout[r*dim+i])*g - xi*c)
					tol := 1e-6*(1+math.Abs(want)) + s*math.Abs(xi)*cErr
					if add {
						want += float64(before[r*dim+i])
						tol += 1e-6 * math.Abs(want)
					}
					if got := float64(dx[r*dim+i]); !(math.Abs(got-want) <= tol) {
						t.Fatalf("%s dim %d P %d add %v: dx[%d][%d] = %v, want %v", path, dim, P, add, r, i, got, want)
					}
				}
			}
		}
	})
}

// A row holding a NaN or an infinity gives the same non-finite pattern on
// the vector and scalar paths (the vector sums must not drop or invent a
// NaN), and the other rows stay finite.
func TestReviewRMSNormNonFiniteRows(t *testing.T) {
	const R, dim, P = 4, 37, 2
	rng := rand.New(rand.NewPCG(47, 48))
	x, gain, dout := randFloats(rng, R*dim), randFloats(rng, P*dim), randFloats(rng, R*dim)
	x[1*dim+3] = float32(math.NaN())
	x[2*dim+30] = float32(math.Inf(-1)) // in the scalar tail
	x[3*dim+9] = float32(math.Inf(1))   // in the vector prefix
	dout[0*dim+33] = float32(math.Inf(1))
	type result struct{ out, rstd, dx []float32 }
	var res []result
	rvPaths(t, func(t *testing.T, path string) {
		out, rstd, dx := make([]float32, R*dim), make([]float32, R), make([]float32, R*dim)
		RMSNormRows(out, rstd, x, gain, R, dim, P, 1e-5)
		RMSNormBackRows(dx, dout, x, gain, rstd, R, dim, P, false)
		res = append(res, result{out, rstd, dx})
	})
	if len(res) < 2 {
		t.Skip("no vector path on this machine")
	}
	v, s := res[0], res[1]
	for _, pair := range []struct {
		name string
		a, b []float32
	}{{"out", v.out, s.out}, {"rstd", v.rstd, s.rstd}, {"dx", v.dx, s.dx}} {
		for i := range pair.a {
			a, b := float64(pair.a[i]), float64(pair.b[i])
			if math.IsNaN(a) != math.IsNaN(b) || math.IsInf(a, 0) != math.IsInf(b, 0) {
				t.Fatalf("%s[%d]: vector %v, scalar %v", pair.name, i, a, b)
			}
		}
	}
	for i := 0; i < dim; i++ {
		if math.IsNaN(float64(v.out[i])) || math.IsInf(float64(v.out[i]), 0) {
			t.Fatalf("row 0 of out is not finite at %d: %v", i, v.out[i])
		}
	}
}

// rvSpecial draws values that stress rounding and IEEE rules: zeros of both
// signs, subnormals, huge values, infinities and NaN, mixed with normals.
func rvSpecial(rng *rand.Rand) float32 {
	switch rng.IntN(12) {
	case 0:
		return 0
	case 1:
		return float32(math.Copysign(0, -1))
	case 2:
		return math.Float32frombits(uint32(1 + rng.IntN(1<<23))) // subnormal
	case 3:
		return float32(rng.NormFloat64() * 1e37)
	case 4:
		return float32(math.Inf(1 - 2*rng.IntN(2)))
	case 5:
		return float32(math.NaN())
	default:
		return float32(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(12)-6)))
	}
}

// rvSameBits compares two results: identical bits, or both NaN (the payload
// of a NaN is not specified by Go).
func rvSameBits(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

// AddMulScaled and AdamWUpdate give every element the same bits on the
// vector and scalar paths (their documented promise, on which the model's
// thread-count independence rests), for every length and with rvSpecial
// values, and write nothing past len. Run also with GOAMD64=v3, where the
// compiler may fuse a*b+c in the scalar loop unless a conversion forbids it.
func TestReviewLevel1VectorScalarBitIdentical(t *testing.T) {
	rng := rand.New(rand.NewPCG(49, 50))
	for trial := 0; trial < 300; trial++ {
		n := rng.IntN(100)
		a, b, acc0 := make([]float32, n), make([]float32, n), make([]float32, n)
		p0, g, m0, v0 := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		for i := 0; i < n; i++ {
			a[i], b[i], acc0[i] = rvSpecial(rng), rvSpecial(rng), rvSpecial(rng)
			p0[i], g[i], m0[i] = rvSpecial(rng), rvSpecial(rng), rvSpecial(rng)
			v0[i] = float32(math.Abs(float64(rvSpecial(rng))))
			if rng.IntN(20) == 0 {
				v0[i] = -v0[i] // a corrupt second moment: sqrt gives NaN on both paths
			}
		}
		s := rvSpecial(rng)
		b1, b2 := float32(0.9), float32(0.95+0.049*rng.Float64())
		shrink, step, inv, eps := float32(1-1e-4*rng.Float64()), float32(1e-3*rng.Float64()), float32(1+rng.Float64()), float32(1e-8)
		type res struct{ acc, p, m, v []float32 }
		var got []res
		rvPaths(t, func(t *testing.T, path string) {
			acc, accGuard := rvGuarded(n, 8, rvSentinel)
			copy(acc, acc0)
			AddMulScaled(acc, a, b, s)
			p, pG := rvGuarded(n, 8, rvSentinel)
			m, mG := rvGuarded(n, 8, rvSentinel)
			v, vG := rvGuarded(n, 8, rvSentinel)
			copy(p, p0)
			copy(m, m0)
			copy(v, v0)
			AdamWUpdate(p, g, m, v, b1, b2, shrink, step, inv, eps)
			if !accGuard() || !pG() || !mG() || !vG() {
				t.Fatalf("%s n=%d: wrote past an output", path, n)
			}
			got = append(got, res{acc, p, m, v})
		})
		if len(got) < 2 {
			t.Skip("no vector path on this machine")
		}
		x, y := got[0], got[1]
		for i := 0; i < n; i++ {
			if !rvSameBits(x.acc[i], y.acc[i]) {
				t.Fatalf("n=%d AddMulScaled[%d] (%v*%v*%v + %v): vector %v, scalar %v", n, i, a[i], b[i], s, acc0[i], x.acc[i], y.acc[i])
			}
			if !rvSameBits(x.p[i], y.p[i]) || !rvSameBits(x.m[i], y.m[i]) || !rvSameBits(x.v[i], y.v[i]) {
				t.Fatalf("n=%d AdamWUpdate[%d] (p %v g %v m %v v %v): vector %v %v %v, scalar %v %v %v",
					n, i, p0[i], g[i], m0[i], v0[i], x.p[i], x.m[i], x.v[i], y.p[i], y.m[i], y.v[i])
			}
		}
	}
}

// The vector path of AdamWUpdate follows the same float32 arithmetic as the
// scalar one at every offset of a slice: an element's bits do not depend on
// where a thread's span starts (the spans the model's Parallel cuts).
func TestReviewAdamWSpanIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	const n = 203
	p0, g, m0, v0 := randFloats(rng, n), randFloats(rng, n), randFloats(rng, n), randFloats(rng, n)
	for i := range v0 {
		v0[i] *= v0[i]
	}
	run := func(cuts []int) []float32 {
		p, m, v := append([]float32(nil), p0...), append([]float32(nil), m0...), append([]float32(nil), v0...)
		lo := 0
		for _, hi := range append(cuts, n) {
			AdamWUpdate(p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], 0.9, 0.95, 0.999, 1e-3, 1.2, 1e-8)
			lo = hi
		}
		return append(append(p, m...), v...)
	}
	want := run(nil)
	for trial := 0; trial < 50; trial++ {
		var cuts []int
		for c := rng.IntN(20); c < n; c += 1 + rng.IntN(40) {
			cuts = append(cuts, c)
		}
		got := run(cuts)
		for i := range got {
			if !rvSameBits(got[i], want[i]) {
				t.Fatalf("cuts %v: element %d of p|m|v is %v, %v in one span", cuts, i, got[i], want[i])
			}
		}
	}
}

// An operand shorter than the length the kernel works on is refused with a
// panic, as the index expressions of the documented formulas would be in
// Go, even when the slice has spare capacity: the kernels must not read or
// write the floats between len and cap (in the model those belong to the
// next tensor, span or chunk, which another thread may be updating).
func TestReviewShortOperandsRefused(t *testing.T) {
	rvPaths(t, func(t *testing.T, path string) {
		const n = 16
		panics := func(fn func()) (p bool) {
			defer func() { p = recover() != nil }()
			fn()
			return false
		}
		// short returns a slice of len l whose cap holds 8 more floats
		// set to the sentinel, and a check that they still are.
		short := func(l int) ([]float32, func() bool) {
			buf := make([]float32, l+8)
			for i := range buf {
				buf[i] = 1
			}
			for i := l; i < l+8; i++ {
				buf[i] = rvSentinel
			}
			return buf[:l], func() bool {
				for _, v := range buf[l:] {
					if math.Float32bits(v) != math.Float32bits(rvSentinel) {
						return false
					}
				}
				return true
			}
		}
		full := func() []float32 {
			x := make([]float32, n)
			for i := range x {
				x[i] = 1
			}
			return x
		}
		for k, name := range []string{"a", "b"} {
			s, _ := short(n - 8)
			ops := [2][]float32{full(), full()}
			ops[k] = s
			if !panics(func() { AddMulScaled(full(), ops[0], ops[1], 1) }) {
				t.Errorf("%s: AddMulScaled with len(%s) = %d < len(acc) = %d did not panic", path, name, len(s), n)
			}
		}
		for k, name := range []string{"g", "m", "v"} {
			s, intact := short(n - 8)
			ops := [3][]float32{full(), full(), full()}
			ops[k] = s
			if !panics(func() { AdamWUpdate(full(), ops[0], ops[1], ops[2], 0.9, 0.95, 1, 1e-3, 1, 1e-8) }) {
				t.Errorf("%s: AdamWUpdate with len(%s) = %d < len(p) = %d did not panic", path, name, len(s), n)
			}
			if !intact() {
				t.Errorf("%s: AdamWUpdate wrote past the end of %s", path, name)
			}
		}
		const G, H, d = 2, 1, 8
		in, g := full(), full()
		dw, dwIntact := short(G*H - 1)
		if !panics(func() { MixHeadsDW(dw, make([]float32, MixScratch(G, H)), in, G*d, g, H*d, 1, G, H, d) }) {
			t.Errorf("%s: MixHeadsDW with len(dw) = 1 < G*H = %d did not panic", path, G*H)
		}
		if !dwIntact() {
			t.Errorf("%s: MixHeadsDW wrote past the end of dw", path)
		}
		scr, scrIntact := short(MixScratch(G, H) - 8)
		if !panics(func() { MixHeadsDW(make([]float32, G*H), scr, in, G*d, g, H*d, 1, G, H, d) }) {
			t.Errorf("%s: MixHeadsDW with len(scratch) = %d < MixScratch = %d did not panic", path, len(scr), MixScratch(G, H))
		}
		if !scrIntact() {
			t.Errorf("%s: MixHeadsDW wrote past the end of scratch", path)
		}
	})
}
