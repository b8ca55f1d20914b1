//go:build cuda || cudaemu

package gpu

// Kernel conformance: every kernel in kernels/*.cu against a Go reference
// on random shapes, ragged ones included. References are computed in
// float64 (so they are the better answer), and the device result must be
// within a stated relative bound:
//
//	err = max_i |got_i - want_i| / max(max_i |want_i|, 1e-30)
//
// float32 kernels (this backend computes in float32 only):
//   - elementwise maps (embedding, rope, swiglu, adds, cross-entropy
//     gradient, mixing with few terms): 2e-6, a few ulps;
//   - row reductions (RMSNorm, softmax, log-sum-exp): 1e-5;
//   - matrix products and column reductions over K terms: 1e-5 * max(1, sqrt(K)/4),
//     for the CUDA-core SGEMM and for the tensor-core 3xTF32 one alike; plain
//     TF32 (MEALAB_CUDA_GEMM=tc1, never the default) 5e-3;
//   - float64 reductions (loss sum, gradient norm): 1e-12.
//
// On a GPU these run with `go test -tags cuda ./gpu/ -run Conformance`; on
// any machine the same tests run on the CPU emulator with -tags cudaemu.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mealab/mealab/model"
)

const (
	tolElem   = 2e-6
	tolRow    = 1e-5
	tolReduce = 1e-12
)

func tolGemm(k int) float64 { return 1e-5 * math.Max(1, math.Sqrt(float64(k))/4) }

// gemmKinds are the matrix-product kernels to test (gemmOp.ForceGemm): the
// CUDA-core SGEMM everywhere, the tensor-core ones (3xTF32 and TF32) where
// the runtime has them (compute capability 8.0+, or the emulator).
func gemmKinds(r *gpuRuntime) []int {
	if r.tc == 0 && !emulated {
		return []int{-1}
	}
	return []int{-1, 3, 1}
}

func gemmKindName(kind int) string {
	switch kind {
	case 3:
		return "tc3"
	case 1:
		return "tc1"
	}
	return "simt"
}

// tolKind is tolGemm, or the TF32 bound for plain TF32.
func tolKind(kind, k int) float64 {
	if kind == 1 {
		return 5e-3
	}
	return tolGemm(k)
}

// testRT opens the device and pins the test goroutine to its context.
func testRT(t testing.TB) *gpuRuntime {
	t.Helper()
	r, err := getRuntime()
	if err != nil {
		t.Fatalf("opening the device: %v", err)
	}
	leave, err := r.enter()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(leave)
	return r
}

// devF copies host floats to a new device buffer freed at cleanup.
func devF(t testing.TB, r *gpuRuntime, host []float32) dbuf {
	t.Helper()
	b, err := r.alloc(max(len(host), 1), "test buffer")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.free(b.ptr) })
	if err := upload(r, b.ptr, host); err != nil {
		t.Fatal(err)
	}
	return b
}

func devI(t testing.TB, r *gpuRuntime, host []int32) dbuf {
	t.Helper()
	b, err := r.alloc(max(len(host), 1), "test buffer")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.free(b.ptr) })
	if err := upload(r, b.ptr, host); err != nil {
		t.Fatal(err)
	}
	return b
}

// devGarbage allocates n floats filled with NaN, so a kernel that reads
// what it should only write is caught.
func devGarbage(t testing.TB, r *gpuRuntime, n int) dbuf {
	nan := make([]float32, n)
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	return devF(t, r, nan)
}

func host(t testing.TB, r *gpuRuntime, b dbuf, n int) []float32 {
	t.Helper()
	out := make([]float32, n)
	if err := download(r, out, b.ptr); err != nil {
		t.Fatal(err)
	}
	return out
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func randF(rng *rand.Rand, n int, scale float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64() * scale)
	}
	return s
}

// relErr is max|got-want| / max|want| over the indices where keep (nil: all)
// is true. NaN anywhere in got counts as infinite error.
func relErr(got []float32, want []float64, keep func(i int) bool) float64 {
	var num, den float64
	for i, w := range want {
		if keep != nil && !keep(i) {
			continue
		}
		g := float64(got[i])
		if math.IsNaN(g) || math.IsInf(g, 0) {
			return math.Inf(1)
		}
		num = math.Max(num, math.Abs(g-w))
		den = math.Max(den, math.Abs(w))
	}
	return num / math.Max(den, 1e-30)
}

func checkErr(t testing.TB, what string, err, tol float64) {
	t.Helper()
	if !(err <= tol) {
		t.Errorf("%s: relative error %.3g exceeds %.3g", what, err, tol)
	} else if testing.Verbose() {
		t.Logf("%s: relative error %.3g (bound %.3g)", what, err, tol)
	}
}

// gemmRef64 is C = alpha*op(A)op(B) + beta*C in float64 (model.GemmRef's
// contract).
func gemmRef64(ta, tb bool, m, n, k int, alpha float64, a []float32, lda int, b []float32, ldb int, beta float64, c []float64, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if ta {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if tb {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			if beta == 0 {
				c[i*ldc+j] = alpha * s
			} else {
				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
			}
		}
	}
}

func TestConformanceGemm(t *testing.T) {
	r := testRT(t)
	rng := rand.New(rand.NewPCG(1, 1))
	shapes := [][3]int{{1, 1, 1}, {67, 131, 45}, {128, 128, 8}, {200, 17, 300}, {5, 260, 33}, {129, 65, 130}}
	for _, kind := range gemmKinds(r) {
		for _, sh := range shapes {
			for _, tile := range []int{64, 128} {
				for form := 0; form < 4; form++ {
					for bi, bs := range [][2]float32{{0, 1}, {1, 1}, {-0.5, 1}, {0, 3}, {1, 4}} {
						if kind == 1 && bi > 0 {
							continue // plain TF32: one case per shape and form
						}
						beta, split := bs[0], int(bs[1])
						ta, tb := form&2 != 0, form&1 != 0
						m, n, k := sh[0], sh[1], sh[2]
						name := fmt.Sprintf("%s_m%d_n%d_k%d_tile%d_%s_beta%g_split%d", gemmKindName(kind), m, n, k, tile, formName(ta, tb), beta, split)
						// Leading dimensions with padding, to catch stride mix-ups.
						lda, ldb, ldc := k+3, n+1, n+2
						ar, ac := m, k
						if ta {
							lda, ar, ac = m+3, k, m
						}
						br := k
						if tb {
							ldb, br = k+1, n
						}
						_ = ac
						a := randF(rng, ar*lda, 1)
						b := randF(rng, br*ldb, 1)
						c := randF(rng, m*ldc, 1)
						want := make([]float64, len(c))
						for i, v := range c {
							want[i] = float64(v)
						}
						alpha := float32(0.75)
						gemmRef64(ta, tb, m, n, k, float64(alpha), a, lda, b, ldb, float64(beta), want, ldc)
						da, db := devF(t, r, a), devF(t, r, b)
						var dc dbuf
						if beta == 0 {
							dc = devGarbage(t, r, len(c)) // beta 0 must not read C
						} else {
							dc = devF(t, r, c)
						}
						must(t, r.gemm(gemmOp{TA: ta, TB: tb, M: m, N: n, K: k, Alpha: alpha, A: da.ptr, LDA: lda, B: db.ptr, LDB: ldb,
							Beta: beta, C: dc.ptr, LDC: ldc, ForceTile: tile, ForceSplit: split, ForceGemm: kind}))
						got := host(t, r, dc, len(c))
						// Columns past n in each row of C are padding: with beta 0
						// they keep their NaN, so only compare the m x n block.
						keep := func(i int) bool { return i%ldc < n }
						checkErr(t, name, relErr(got, want, keep), tolKind(kind, k))
					}
				}
			}
		}
	}
}

func formName(ta, tb bool) string {
	s := "n"
	if ta {
		s = "t"
	}
	if tb {
		return s + "t"
	}
	return s + "n"
}

// TestConformanceGemmBatchedCausal checks the batched attention products
// with their causal shortcuts against full products.
func TestConformanceGemmBatchedCausal(t *testing.T) {
	r := testRT(t)
	rng := rand.New(rand.NewPCG(2, 2))
	for _, tc := range []struct{ B, H, T, d, ld int }{{2, 3, 37, 8, 3*8*2 + 5}, {1, 2, 130, 16, 2 * 16 * 3}} {
		B, H, T, d := tc.B, tc.H, tc.T, tc.d
		Z := B * H
		ld := tc.ld // row stride of the q / k / v operands (>= H*d)
		q := randF(rng, B*T*ld, 1)
		kk := randF(rng, B*T*ld, 1)
		// Lower-triangular probabilities P (Z, T, T), zero above the diagonal.
		P := randF(rng, Z*T*T, 1)
		for z := 0; z < Z; z++ {
			for i := 0; i < T; i++ {
				for j := i + 1; j < T; j++ {
					P[z*T*T+i*T+j] = 0
				}
			}
		}
		dq, dk, dP := devF(t, r, q), devF(t, r, kk), devF(t, r, P)
		for _, kt := range [][2]int{{-1, 64}, {-1, 128}, {3, 64}, {3, 128}, {1, 128}} {
			kind, tile := kt[0], kt[1]
			if kind > 0 && r.tc == 0 && !emulated {
				continue
			}
			name := fmt.Sprintf("%s_B%d_H%d_T%d_d%d_tile%d", gemmKindName(kind), B, H, T, d, tile)
			// Mode 1: S = 0.5 Q K^T, lower triangle only.
			S := devGarbage(t, r, Z*T*T)
			must(t, r.gemm(gemmOp{TB: true, M: T, N: T, K: d, Alpha: 0.5,
				A: dq.ptr, LDA: ld, SA1: int64(T * ld), SA2: int64(d),
				B: dk.ptr, LDB: ld, SB1: int64(T * ld), SB2: int64(d),
				C: S.ptr, LDC: T, SC1: int64(H * T * T), SC2: int64(T * T),
				Z: Z, Zdiv: H, Causal: 1, ForceTile: tile, ForceGemm: kind}))
			got := host(t, r, S, Z*T*T)
			want := make([]float64, Z*T*T)
			for z := 0; z < Z; z++ {
				b, h := z/H, z%H
				gemmRef64(false, true, T, T, d, 0.5, q[b*T*ld+h*d:], ld, kk[b*T*ld+h*d:], ld, 0, want[z*T*T:], T)
			}
			lower := func(i int) bool { return (i%(T*T))%T <= (i%(T*T))/T }
			checkErr(t, name+"_causal1_QKt", relErr(got, want, lower), tolKind(kind, d))

			// Mode 2: O = P V (P lower triangular), into a strided output.
			O := devGarbage(t, r, B*T*ld)
			must(t, r.gemm(gemmOp{M: T, N: d, K: T, Alpha: 1,
				A: dP.ptr, LDA: T, SA1: int64(H * T * T), SA2: int64(T * T),
				B: dk.ptr, LDB: ld, SB1: int64(T * ld), SB2: int64(d),
				C: O.ptr, LDC: ld, SC1: int64(T * ld), SC2: int64(d),
				Z: Z, Zdiv: H, Causal: 2, ForceTile: tile, ForceGemm: kind}))
			got = host(t, r, O, B*T*ld)
			want = make([]float64, B*T*ld)
			for z := 0; z < Z; z++ {
				b, h := z/H, z%H
				gemmRef64(false, false, T, d, T, 1, P[z*T*T:], T, kk[b*T*ld+h*d:], ld, 0, want[b*T*ld+h*d:], ld)
			}
			inHeads := func(i int) bool { return i%ld < H*d }
			checkErr(t, name+"_causal2_PV", relErr(got, want, inHeads), tolKind(kind, T))

			// Mode 3: dV = P^T dO.
			O3 := devGarbage(t, r, B*T*ld)
			must(t, r.gemm(gemmOp{TA: true, M: T, N: d, K: T, Alpha: 1,
				A: dP.ptr, LDA: T, SA1: int64(H * T * T), SA2: int64(T * T),
				B: dq.ptr, LDB: ld, SB1: int64(T * ld), SB2: int64(d),
				C: O3.ptr, LDC: ld, SC1: int64(T * ld), SC2: int64(d),
				Z: Z, Zdiv: H, Causal: 3, ForceTile: tile, ForceGemm: kind}))
			got = host(t, r, O3, B*T*ld)
			want = make([]float64, B*T*ld)
			for z := 0; z < Z; z++ {
				b, h := z/H, z%H
				gemmRef64(true, false, T, d, T, 1, P[z*T*T:], T, q[b*T*ld+h*d:], ld, 0, want[b*T*ld+h*d:], ld)
			}
			checkErr(t, name+"_causal3_PtdO", relErr(got, want, inHeads), tolKind(kind, T))
		}
	}
}

func rmsRef(x, gain []float32, R, dim, P int) (out, rstd []float64) {
	out, rstd = make([]float64, R*dim), make([]float64, R)
	for r := 0; r < R; r++ {
		var ss float64
		for i := 0; i < dim; i++ {
			v := float64(x[r*dim+i])
			ss += v * v
		}
		s := 1 / math.Sqrt(ss/float64(dim)+1e-5)
		rstd[r] = s
		for i := 0; i < dim; i++ {
			out[r*dim+i] = float64(x[r*dim+i]) * s * float64(gain[(r%P)*dim+i])
		}
	}
	return out, rstd
}

func TestConformanceRMSNorm(t *testing.T) {
	r := testRT(t)
	rng := rand.New(rand.NewPCG(3, 3))
	for _, tc := range []struct{ R, dim, P int }{{7, 33, 1}, {12, 8, 3}, {64, 768, 1}, {45, 32, 5}, {300, 64, 1}} {
		R, dim, P := tc.R, tc.dim, tc.P
		name := fmt.Sprintf("R%d_dim%d_P%d", R, dim, P)
		x := randF(rng, R*dim, 2)
		gain := randF(rng, P*dim, 0.3)
		for i := range gain {
			gain[i] += 1
		}
		dout := randF(rng, R*dim, 1)
		dg0 := randF(rng, P*dim, 1)
		wantOut, wantRstd := rmsRef(x, gain, R, dim, P)
		dx, out, rstd := devGarbage(t, r, R*dim), devGarbage(t, r, R*dim), devGarbage(t, r, R)
		ddg, part := devF(t, r, dg0), devGarbage(t, r, 3*P*dim)
		must(t, r.rmsnormFwd(out.ptr, rstd.ptr, devF(t, r, x).ptr, devF(t, r, gain).ptr, R, dim, P))
		checkErr(t, name+"_fwd", relErr(host(t, r, out, R*dim), wantOut, nil), tolRow)
		checkErr(t, name+"_rstd", relErr(host(t, r, rstd, R), wantRstd, nil), tolRow)
		// Backward from the device's rstd.
		rs := host(t, r, rstd, R)
		wantDx := make([]float64, R*dim)
		wantDg := make([]float64, P*dim)
		for i, v := range dg0 {
			wantDg[i] = float64(v)
		}
		for row := 0; row < R; row++ {
			s := float64(rs[row])
			var dot float64
			for i := 0; i < dim; i++ {
				xh := float64(x[row*dim+i]) * s
				g := float64(gain[(row%P)*dim+i])
				dot += float64(dout[row*dim+i]) * g * xh
				wantDg[(row%P)*dim+i] += float64(dout[row*dim+i]) * xh
			}
			dot /= float64(dim)
			for i := 0; i < dim; i++ {
				xh := float64(x[row*dim+i]) * s
				g := float64(gain[(row%P)*dim+i])
				wantDx[row*dim+i] = s * (float64(dout[row*dim+i])*g - xh*dot)
			}
		}
		must(t, r.rmsnormBwd(dx.ptr, ddg.ptr, devF(t, r, dout).ptr, devF(t, r, x).ptr, devF(t, r, gain).ptr, rstd.ptr, R, dim, P, part))
		checkErr(t, name+"_dx", relErr(host(t, r, dx, R*dim), wantDx, nil), tolRow)
		checkErr(t, name+"_dgain", relErr(host(t, r, ddg, P*dim), wantDg, nil), tolGemm(R/P))
	}
}

func TestConformanceRope(t *testing.T) {
	r := testRT(t)
	rng := rand.New(rand.NewPCG(4, 4))
	B, T, nh, d := 3, 11, 5, 12
	ld := nh*d + 7
	N := B * T
	cosT, sinT := model.RopeTable[float32](T+4, d, 10000)
	x := randF(rng, N*ld, 1)
	half := d / 2
	want := make([]float64, len(x))
	for i, v := range x {
		want[i] = float64(v)
	}
	for n := 0; n < N; n++ {
		p := n % T
		for h := 0; h < nh; h++ {
			for i := 0; i < half; i++ {
				a, b := float64(x[n*ld+h*d+i]), float64(x[n*ld+h*d+i+half])
				c, s := float64(cosT[p*half+i]), float64(sinT[p*half+i])
				want[n*ld+h*d+i] = a*c - b*s
				want[n*ld+h*d+i+half] = a*s + b*c
			}
		}
	}
	dx := devF(t, r, x)
	dc, ds := devF(t, r, cosT), devF(t, r, sinT)
	must(t, r.rope(dx.ptr, dc.ptr, ds.ptr, N, T, ld, nh, d, false))
	got := host(t, r, dx, len(x))
	checkErr(t, "rope_fwd", relErr(got, want, nil), tolElem)
	must(t, r.rope(dx.ptr, dc.ptr, ds.ptr, N, T, ld, nh, d, true))
	back := host(t, r, dx, len(x))
	orig := make([]float64, len(x))
	for i, v := range x {
		orig[i] = float64(v)
	}
	checkErr(t, "rope_inverse_of_fwd", relErr(back, orig, nil), 4*tolElem)
}

func TestConformanceMix(t *testing.T) {
	r := testRT(t)
	rng := rand.New(rand.NewPCG(5, 5))
	for _, tc := range []struct {
		N, G, H, d int
		fixed      bool
	}{{11, 2, 6, 6, false}, {9, 3, 3, 4, false}, {13, 2, 4, 8, true}, {7, 1, 4, 2, true}, {40, 4, 8, 16, false}} {
		N, G, H, d := tc.N, tc.G, tc.H, tc.d
		ld := (H+2*G)*d + 3
		off := H * d
		name := fmt.Sprintf("N%d_G%d_H%d_d%d_fixed%v", N, G, H, d, tc.fixed)
		in := randF(rng, N*ld, 1)
		var W []float32
		if tc.fixed {
			W = groupingMatrix(G, H)
		} else {
			W = randF(rng, G*H, 1)
		}
		want := make([]float64, N*H*d)
		for n := 0; n < N; n++ {
			for j := 0; j < H; j++ {
				for k := 0; k < d; k++ {
					var s float64
					for i := 0; i < G; i++ {
						s += float64(W[i*H+j]) * float64(in[n*ld+off+i*d+k])
					}
					want[(n*H+j)*d+k] = s
				}
			}
		}
		din, dW := devF(t, r, in), devF(t, r, W)
		out := devGarbage(t, r, N*H*d)
		must(t, r.mixFwd(out.ptr, din.ptr, dW.ptr, N, ld, off, G, H, d))
		checkErr(t, name+"_fwd", relErr(host(t, r, out, N*H*d), want, nil), tolGemm(G))

		dout := randF(rng, N*H*d, 1)
		dW0 := randF(rng, G*H, 1)
		wantIn := make([]float64, N*ld)
		for i, v := range in { // only the component-head columns are written
			wantIn[i] = float64(v)
		}
		wantW := make([]float64, G*H)
		for i, v := range dW0 {
			wantW[i] = float64(v)
		}
		for n := 0; n < N; n++ {
			for i := 0; i < G; i++ {
				for k := 0; k < d; k++ {
					var s float64
					for j := 0; j < H; j++ {
						s += float64(W[i*H+j]) * float64(dout[(n*H+j)*d+k])
					}
					wantIn[n*ld+off+i*d+k] = s
				}
				for j := 0; j < H; j++ {
					for k := 0; k < d; k++ {
						wantW[i*H+j] += float64(in[n*ld+off+i*d+k]) * float64(dout[(n*H+j)*d+k])
					}
				}
			}
		}
		dgrad := devF(t, r, in) // the kernel overwrites only the component heads
		ddout := devF(t, r, dout)
		must(t, r.mixBwdIn(dgrad.ptr, ddout.ptr, dW.ptr, N, ld, off, G, H, d))
		checkErr(t, name+"_bwd_in", relErr(host(t, r, dgrad, N*ld), wantIn, nil), tolGemm(H))
		ddW := devF(t, r, dW0)
		part := devGarbage(t, r, 5*G*H)
		must(t, r.mixBwdW(ddW.ptr, ddout.ptr, din.ptr, N, ld, off, G, H, d, part))
		checkErr(t, name+"_bwd_W", relErr(host(t, r, ddW, G*H), wantW, nil), tolGemm(N*d))
	}
}

func TestConformanceSoftmax(t *testing.T) {
	r := testRT(t)
	rng := rand.New(rand.NewPCG(6, 6))
	for _, tc := range []struct{ BH, T int }{{3, 37}, {2, 70}, {1, 1}, {5, 33}} {
		BH, T := tc.BH, tc.T
		rows := BH * T
		name := fmt.Sprintf("BH%d_T%d", BH, T)
		S := randF(rng, rows*T, 3)
		for i := range S { // above the diagonal: garbage the kernel must ignore
			if (i%(T*T))%T > (i%(T*T))/T {
				S[i] = float32(math.NaN())
			}
		}
		want := make([]float64, rows*T)
		var wantMax float64
		for row := 0; row < rows; row++ {
			tt := row % T
			x := S[row*T : row*T+tt+1]
			mx := math.Inf(-1)
			for _, v := range x {
				mx = math.Max(mx, float64(v))
				wantMax = math.Max(wantMax, math.Abs(float64(v)))
			}
			var sum float64
			for _, v := range x {
				sum += math.Exp(float64(v) - mx)
			}
			for u, v := range x {
				want[row*T+u] = math.Exp(float64(v)-mx) / sum
			}
		}
		dS := devF(t, r, S)
		stats := devF(t, r, []float32{0, 0})
		must(t, r.softmaxFwd(dS.ptr, T, int64(rows), stats.ptr))
		P := host(t, r, dS, rows*T)
		checkErr(t, name+"_fwd", relErr(P, want, nil), tolRow)
		var st [1]uint64
		must(t, download(r, st[:], stats.ptr))
		gotMax := float64(math.Float32frombits(uint32(st[0])))
		checkErr(t, name+"_maxlogit", math.Abs(gotMax-wantMax)/wantMax, tolElem)

		dP := randF(rng, rows*T, 1)
		for i := range dP {
			if (i%(T*T))%T > (i%(T*T))/T {
				dP[i] = float32(math.NaN())
			}
		}
		wantD := make([]float64, rows*T)
		for row := 0; row < rows; row++ {
			tt := row % T
			var dot float64
			for u := 0; u <= tt; u++ {
				dot += float64(P[row*T+u]) * float64(dP[row*T+u])
			}
			for u := 0; u <= tt; u++ {
				wantD[row*T+u] = float64(P[row*T+u]) * (float64(dP[row*T+u]) - dot)
			}
		}
		ddP := devF(t, r, dP)
		must(t, r.softmaxBwd(dS.ptr, ddP.ptr, T, int64(rows)))
		checkErr(t, name+"_bwd", relErr(host(t, r, ddP, rows*T), wantD, nil), tolGemm(T))
	}
}

func TestConformanceEmbed(t *testing.T) {
	r := testRT(t)
	rng := rand.New(rand.NewPCG(7, 7))
	V, D, N := 13, 300, 29
	emb := randF(rng, V*D, 1)
	tokens := make([]int32, N)
	for i := range tokens {
		tokens[i] = int32(rng.IntN(V - 2)) // the last two rows get no gradient
	}
	want := make([]float64, N*D)
	for n, tok := range tokens {
		for c := 0; c < D; c++ {
			want[n*D+c] = float64(emb[int(tok)*D+c])
		}
	}
	out := devGarbage(t, r, N*D)
	dt := devI(t, r, tokens)
	must(t, r.embedFwd(out.ptr, dt.ptr, devF(t, r, emb).ptr, N, D))
	checkErr(t, "embed_fwd", relErr(host(t, r, out, N*D), want, nil), 0)

	dout := randF(rng, N*D, 1)
	g0 := randF(rng, V*D, 1)
	wantG := make([]float64, V*D)
	for i, v := range g0 {
		wantG[i] = float64(v)
	}
	for n, tok := range tokens {
		for c := 0; c < D; c++ {
			wantG[int(tok)*D+c] += float64(dout[n*D+c])
		}
	}
	perm, offs := make([]int32, N), make([]int32, V+1)
	sortByToken(perm, offs, tokens)
	dg := devF(t, r, g0)
	must(t, r.embedBwd(dg.ptr, devF(t, r, dout).ptr, devI(t, r, perm).ptr, devI(t, r, offs).ptr, V, D))
	checkErr(t, "embed_bwd", relErr(host(t, r, dg, V*D), wantG, nil), tolGemm(N))
}

func TestConformanceSwiGLU(t *testing.T) {
	r := testRT(t)
	rng := rand.New(rand.NewPCG(8, 8))
	N, F := 17, 45
	ab := randF(rng, N*2*F, 3)
	ab[0], ab[1] = 90, -90 // saturated gates
	dh := randF(rng, N*F, 1)
	want := make([]float64, N*F)
	wantD := make([]float64, N*2*F)
	for n := 0; n < N; n++ {
		for i := 0; i < F; i++ {
			a, b := float64(ab[n*2*F+i]), float64(ab[n*2*F+F+i])
			sg := 1 / (1 + math.Exp(-a))
			want[n*F+i] = a * sg * b
			g := float64(dh[n*F+i])
			wantD[n*2*F+i] = g * b * sg * (1 + a*(1-sg))
			wantD[n*2*F+F+i] = g * a * sg
		}
	}
	dab := devF(t, r, ab)
	h := devGarbage(t, r, N*F)
	must(t, r.swigluFwd(h.ptr, dab.ptr, N, F))
	checkErr(t, "swiglu_fwd", relErr(host(t, r, h, N*F), want, nil), tolElem)
	dd := devGarbage(t, r, N*2*F)
	must(t, r.swigluBwd(dd.ptr, devF(t, r, dh).ptr, dab.ptr, N, F))
	checkErr(t, "swiglu_bwd", relErr(host(t, r, dd, N*2*F), wantD, nil), tolElem)

	x, y := randF(rng, 1000, 1), randF(rng, 1000, 1)
	wantAdd := make([]float64, 1000)
	for i := range x {
		wantAdd[i] = float64(x[i]) + float64(y[i])
	}
	dx := devF(t, r, x)
	must(t, r.addInPlace(dx.ptr, devF(t, r, y).ptr, 1000))
	checkErr(t, "add_inplace", relErr(host(t, r, dx, 1000), wantAdd, nil), tolElem)
}

func TestConformanceCrossEntropy(t *testing.T) {
	r := testRT(t)
	rng := rand.New(rand.NewPCG(9, 9))
	for _, tc := range []struct{ N, V int }{{23, 19}, {8, 1000}, {5, 1}} {
		N, V := tc.N, tc.V
		name := fmt.Sprintf("N%d_V%d", N, V)
		logits := randF(rng, N*V, 4)
		targets := make([]int32, N)
		count := 0
		for i := range targets {
			targets[i] = int32(rng.IntN(V))
			if i%4 == 3 {
				targets[i] = -1 // ignored
			} else {
				count++
			}
		}
		wantLse := make([]float64, N)
		var wantSum float64
		for n := 0; n < N; n++ {
			mx := math.Inf(-1)
			for _, v := range logits[n*V : (n+1)*V] {
				mx = math.Max(mx, float64(v))
			}
			var s float64
			for _, v := range logits[n*V : (n+1)*V] {
				s += math.Exp(float64(v) - mx)
			}
			wantLse[n] = mx + math.Log(s)
			if targets[n] >= 0 {
				wantSum += wantLse[n] - float64(logits[n*V+int(targets[n])])
			}
		}
		dl, dtg := devF(t, r, logits), devI(t, r, targets)
		lse, rowLoss := devGarbage(t, r, N), devGarbage(t, r, N)
		sumBuf, err := r.allocBytes(8, "loss")
		must(t, err)
		t.Cleanup(func() { _ = r.free(sumBuf) })
		must(t, r.ceFwd(lse.ptr, rowLoss.ptr, dl.ptr, dtg.ptr, N, V, sumBuf))
		checkErr(t, name+"_lse", relErr(host(t, r, lse, N), wantLse, nil), tolRow)
		var st [1]uint64
		must(t, download(r, st[:], sumBuf))
		gotSum := math.Float64frombits(st[0])
		checkErr(t, name+"_loss_sum", math.Abs(gotSum-wantSum)/math.Max(math.Abs(wantSum), 1e-30), tolRow)

		scale := 1 / float64(count)
		lseHost := host(t, r, lse, N)
		wantD := make([]float64, N*V)
		for n := 0; n < N; n++ {
			if targets[n] < 0 {
				continue
			}
			for i := 0; i < V; i++ {
				wantD[n*V+i] = math.Exp(float64(logits[n*V+i])-float64(lseHost[n])) * scale
			}
			wantD[n*V+int(targets[n])] -= scale
		}
		dd := devGarbage(t, r, N*V)
		must(t, r.ceBwd(dd.ptr, dl.ptr, lse.ptr, dtg.ptr, N, V, float32(scale)))
		checkErr(t, name+"_bwd", relErr(host(t, r, dd, N*V), wantD, nil), tolRow)
	}
}

func TestConformanceSumsq(t *testing.T) {
	r := testRT(t)
	rng := rand.New(rand.NewPCG(10, 10))
	for _, n := range []int{1, 1000, 300001} {
		x := randF(rng, n, 1)
		var want float64
		for _, v := range x {
			want += float64(v) * float64(v)
		}
		part, err := r.allocBytes(8*sumsqBlocks, "partials")
		must(t, err)
		out, err := r.allocBytes(8, "sum")
		must(t, err)
		must(t, r.sumsq(out, devF(t, r, x).ptr, n, part))
		var st [1]uint64
		must(t, download(r, st[:], out))
		got := math.Float64frombits(st[0])
		checkErr(t, fmt.Sprintf("sumsq_n%d", n), math.Abs(got-want)/want, tolReduce)
		_ = r.free(part)
		_ = r.free(out)
	}
}
