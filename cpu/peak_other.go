//go:build !amd64 || purego

package cpu

// fmaProbes is empty in builds without assembly: there is no FMA instruction
// that Go code can be made to issue back to back, so no peak is claimed.
func fmaProbes() []fmaProbe { return nil }

func readSum(x []float32) float32 {
	var s0, s1, s2, s3 float32
	n := len(x) &^ 3
	for i := 0; i < n; i += 4 {
		s0 += x[i]
		s1 += x[i+1]
		s2 += x[i+2]
		s3 += x[i+3]
	}
	for _, v := range x[n:] {
		s0 += v
	}
	return s0 + s1 + s2 + s3
}
