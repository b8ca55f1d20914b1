//go:build !amd64 || purego

package cpu

func useExpKernels(avx512, avx2 bool) {}

func hasAVX512Exp() bool { return false }
func hasAVX2Exp() bool   { return false }
