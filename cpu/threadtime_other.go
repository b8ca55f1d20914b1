//go:build !linux

package cpu

// threadCPUSeconds is not measured here: the probes fall back to wall time.
func threadCPUSeconds() float64 { return 0 }
