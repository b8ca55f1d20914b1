package model

// HeadMixer is what a backend may add to Compute for HLC with virtual heads
// (h' < h): float32 kernels that mix whole component heads per token and
// give the mixing matrix's gradient. The model uses them when the backend
// has them (the cpu package does, in assembly) and mixRows/mixRowsDW
// otherwise, and always for float64 models. Semantics as cpu.MixHeads and
// cpu.MixHeadsDW.
type HeadMixer interface {
	// MixHeads: out[r*ldo+j*d+f] = sum over i < G of w[i*H+j] * in[r*ldi+i*d+f].
	MixHeads(out []float32, ldo int, in []float32, ldi int, w []float32, n, G, H, d int)
	// MixHeadsDW: dw[i*H+j] = sum over r < n, f < d of in[r*ldi+i*d+f] * g[r*ldg+j*d+f]
	// (overwritten); scratch holds 8*G*H floats.
	MixHeadsDW(dw, scratch, in []float32, ldi int, g []float32, ldg int, n, G, H, d int)
}

// mixOps are the model's head-mixing kernels for its element type.
type mixOps[T Float] struct {
	rows func(out []T, ldo int, in []T, ldi int, w []T, n, G, H, d int)
	dw   func(dw, scratch, in []T, ldi int, g []T, ldg int, n, G, H, d int)
}

func pickMix[T Float](c Compute) mixOps[T] {
	var zero T
	if hm, ok := c.(HeadMixer); ok {
		if _, f32 := any(zero).(float32); f32 {
			return any(mixOps[float32]{rows: hm.MixHeads, dw: hm.MixHeadsDW}).(mixOps[T])
		}
	}
	return mixOps[T]{rows: mixRows[T], dw: mixRowsDW[T]}
}

// mixRows is the reference of HeadMixer.MixHeads: mixForward with any
// output stride.
func mixRows[T Float](out []T, ldo int, in []T, ldi int, w []T, n, G, H, d int) {
	for r := 0; r < n; r++ {
		mixForward(out[r*ldo:r*ldo+H*d], in[r*ldi:r*ldi+G*d], w, 1, G*d, 0, G, H, d)
	}
}

// mixRowsDW is the reference of HeadMixer.MixHeadsDW (scratch unused):
// the dW half of mixBackward, summed in float64 per token.
func mixRowsDW[T Float](dw, _, in []T, ldi int, g []T, ldg int, n, G, H, d int) {
	dw = dw[:G*H]
	clear(dw)
	for r := 0; r < n; r++ {
		for i := 0; i < G; i++ {
			si := in[r*ldi+i*d : r*ldi+(i+1)*d]
			for j := 0; j < H; j++ {
				gj := g[r*ldg+j*d : r*ldg+(j+1)*d]
				var s float64
				for f, v := range si {
					s += float64(v) * float64(gj[f])
				}
				dw[i*H+j] += T(s)
			}
		}
	}
}

// mixChunk is the number of tokens whose mixing-matrix gradient is summed
// into one partial: partials are then added in chunk order, so the result
// depends on the batch shape only, never on the thread count.
const mixChunk = 64
