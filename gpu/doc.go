// Package gpu is mealab's CUDA backend, built only with `-tags cuda` (every
// file that imports gorgonia.org/cu carries that build tag, because cu's
// init() calls cuInit and exits the process on a machine without a GPU).
// The default build is pure Go; there this package only says how to get a
// CUDA build.
package gpu
