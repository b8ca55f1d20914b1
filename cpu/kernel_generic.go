//go:build !amd64 || purego

package cpu

// bestKernel returns the pure-Go kernel: this build has no assembly kernels.
func bestKernel() *microKernel { return genericKernel }

// availableKernels lists the kernels this build and CPU can run, for the tests.
func availableKernels() []*microKernel { return []*microKernel{genericKernel} }
