//go:build amd64 && !purego

package cpu

import "golang.org/x/sys/cpu"

//go:noescape
func sumSquaresAVX2(x *float32, n int) float32

//go:noescape
func scaleMulAVX2(o, x, gain *float32, n int, s float32)

//go:noescape
func dot3AVX2(a, b, c *float32, n int) float32

//go:noescape
func rmsBackAVX2(o, dr, gain, x *float32, n int, s, c float32, add int)

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		sumSquaresVec, scaleMulVec, dot3Vec, rmsBackVec = sumSquaresAVX2, scaleMulAVX2, dot3AVX2, rmsBackAVX2
	}
}
