//go:build amd64 && !purego

package cpu

//go:noescape
func fmaChainsAVX512(n int)

//go:noescape
func fmaChainsAVX2(n int)

//go:noescape
func readSumAVX2(p *float32, n int) float32

// fmaProbes lists the FMA-chain probes this CPU can run, widest first.
func fmaProbes() []fmaProbe {
	var ps []fmaProbe
	if hasAVX512() {
		ps = append(ps, fmaProbe{"avx512", 12 * 16 * 2, fmaChainsAVX512})
	}
	if hasAVX2() {
		ps = append(ps, fmaProbe{"avx2", 12 * 8 * 2, fmaChainsAVX2})
	}
	return ps
}

func readSum(x []float32) float32 {
	n := len(x) &^ 63
	var s float32
	if n > 0 && hasAVX2() {
		s = readSumAVX2(&x[0], n)
	} else {
		n = 0
	}
	for _, v := range x[n:] {
		s += v
	}
	return s
}
