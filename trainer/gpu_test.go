package trainer

import "github.com/mealab/mealab/gpu"

const gpuBuilt = gpu.Built
