package main

import (
	"fmt"
	"io"
	"runtime"

	"github.com/mealab/mealab/cpu"
	"github.com/mealab/mealab/gpu"
)

func cmdDoctor(w io.Writer) error {
	fmt.Fprintf(w, "mealab %s, %s %s/%s\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "cpu: %d cores, kernel %s, %d threads\n", runtime.NumCPU(), cpu.Features(), cpu.Threads())
	fmt.Fprintf(w, "cuda: %s\n", gpu.Describe())
	return nil
}
