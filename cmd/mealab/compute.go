package main

import (
	"fmt"
	"runtime"

	"github.com/mealab/mealab/cpu"
	"github.com/mealab/mealab/model"
)

// setupCompute sets the thread count (0: all cores) and returns the backend.
func setupCompute(threads int) model.Compute {
	if threads > 0 {
		cpu.SetThreads(threads)
	}
	return cpu.Compute{}
}

func computeLabel() string {
	return fmt.Sprintf("cpu (%s kernel, %d threads of %d cores)", cpu.Features(), cpu.Threads(), runtime.NumCPU())
}
