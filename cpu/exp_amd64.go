//go:build amd64 && !purego

package cpu

//go:noescape
func expShiftSumAVX512(x *float32, n int, shift float32) float32

//go:noescape
func expShiftSumAVX2(x *float32, n int, shift float32) float32

//go:noescape
func swigluAVX512(h, sig, a, b *float32, n int)

//go:noescape
func swigluAVX2(h, sig, a, b *float32, n int)

//go:noescape
func swigluBackAVX512(da, db, dh, a, b, sig *float32, n int)

//go:noescape
func swigluBackAVX2(da, db, dh, a, b, sig *float32, n int)

//go:noescape
func minMaxAVX512(x *float32, n int) (lo, hi float32)

func init() { useExpKernels(hasAVX512(), hasAVX2()) }

// useExpKernels picks the widest exp kernels allowed (the tests call it to
// run each width).
func useExpKernels(avx512, avx2 bool) {
	switch {
	case avx512:
		expLanes, expVecAnyLen = 16, true
		expVec = func(x []float32, shift float32) float32 { return expShiftSumAVX512(&x[0], len(x), shift) }
		minMaxVec = func(x []float32) (float32, float32) { return minMaxAVX512(&x[0], len(x)) }
		swigluVec = func(h, sig, a, b []float32) { swigluAVX512(&h[0], &sig[0], &a[0], &b[0], len(h)) }
		swigluBackVec = func(da, db, g, a, b, sig []float32) {
			swigluBackAVX512(&da[0], &db[0], &g[0], &a[0], &b[0], &sig[0], len(da))
		}
	case avx2:
		expLanes, expVecAnyLen, minMaxVec = 8, false, nil
		expVec = func(x []float32, shift float32) float32 { return expShiftSumAVX2(&x[0], len(x), shift) }
		swigluVec = func(h, sig, a, b []float32) { swigluAVX2(&h[0], &sig[0], &a[0], &b[0], len(h)) }
		swigluBackVec = func(da, db, g, a, b, sig []float32) {
			swigluBackAVX2(&da[0], &db[0], &g[0], &a[0], &b[0], &sig[0], len(da))
		}
	default:
		expLanes, expVecAnyLen, expVec, swigluVec, swigluBackVec, minMaxVec = 1, false, nil, nil, nil, nil
	}
}

func hasAVX512Exp() bool { return hasAVX512() }
func hasAVX2Exp() bool   { return hasAVX2() }
