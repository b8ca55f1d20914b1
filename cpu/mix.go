package cpu

// Head mixing: the per-token linear combination of whole heads that HLC
// (MEA's head-level linear combination) applies to the component keys and
// values, and its weight gradient. The model calls these when h' < h,
// where projecting h' component heads and mixing them per token costs far
// less than projecting h composite heads.

// MixHeads computes, for every row r < n, head j < H and feature f < d,
//
//	out[r*ldo + j*d + f] = sum over i < G, in order, of w[i*H+j] * in[r*ldi + i*d + f]
//
// overwriting out. With w the (H, G) transpose of a mixing matrix it is
// also the backward pass to the component heads.
func MixHeads(out []float32, ldo int, in []float32, ldi int, w []float32, n, G, H, d int) {
	if n <= 0 || G <= 0 || H <= 0 || d <= 0 {
		return
	}
	if n > 1 && (ldo < 0 || ldi < 0) { // the checks below bound the last row only
		panic("cpu: MixHeads: negative row stride")
	}
	_ = out[(n-1)*ldo+H*d-1]
	_ = in[(n-1)*ldi+G*d-1]
	_ = w[G*H-1]
	if mixRowVec != nil && d%8 == 0 {
		for r := 0; r < n; r++ {
			mixRowVec(&out[r*ldo], &in[r*ldi], &w[0], G, H, d/8, d*4)
		}
		return
	}
	for r := 0; r < n; r++ {
		src := in[r*ldi : r*ldi+G*d]
		dst := out[r*ldo : r*ldo+H*d]
		for j := 0; j < H; j++ {
			o := dst[j*d : (j+1)*d]
			clear(o)
			for i := 0; i < G; i++ {
				wij := w[i*H+j]
				for f, v := range src[i*d : (i+1)*d] {
					o[f] += wij * v
				}
			}
		}
	}
}

// MixHeadsDW computes the gradient of a mixing matrix over n rows,
// overwriting dw (G x H):
//
//	dw[i*H+j] = sum over r < n and f < d of in[r*ldi + i*d + f] * g[r*ldg + j*d + f]
//
// where in holds the component heads and g the gradient at the mixed heads.
// scratch holds at least MixScratch(G, H) floats. The summation order is
// fixed by n, G, H and d (eight partial sums per entry with the vector
// code), not by the caller's threads.
func MixHeadsDW(dw, scratch, in []float32, ldi int, g []float32, ldg int, n, G, H, d int) {
	if G <= 0 || H <= 0 {
		return
	}
	if n > 1 && (ldi < 0 || ldg < 0) { // the checks below bound the last row only
		panic("cpu: MixHeadsDW: negative row stride")
	}
	if len(dw) < G*H || len(scratch) < MixScratch(G, H) { // dw[:G*H] alone would reach into cap
		panic("cpu: MixHeadsDW: dw or scratch is too short")
	}
	dw = dw[:G*H]
	clear(dw)
	if n <= 0 || d <= 0 {
		return
	}
	_ = in[(n-1)*ldi+G*d-1]
	_ = g[(n-1)*ldg+H*d-1]
	if mixDWRowVec != nil && d%8 == 0 {
		acc := scratch[:G*H*8]
		clear(acc)
		for r := 0; r < n; r++ {
			mixDWRowVec(&acc[0], &in[r*ldi], &g[r*ldg], G, H, d/8, d*4)
		}
		for p := range dw {
			var s float32
			for _, v := range acc[p*8 : p*8+8] {
				s += v
			}
			dw[p] = s
		}
		return
	}
	for r := 0; r < n; r++ {
		for i := 0; i < G; i++ {
			si := in[r*ldi+i*d : r*ldi+(i+1)*d]
			for j := 0; j < H; j++ {
				gj := g[r*ldg+j*d : r*ldg+(j+1)*d]
				var s float32
				for f, v := range si {
					s += v * gj[f]
				}
				dw[i*H+j] += s
			}
		}
	}
}

// MixScratch is the scratch MixHeadsDW needs for a G x H mixing matrix.
func MixScratch(G, H int) int { return G * H * 8 }

// mixRowVec and mixDWRowVec, when not nil, are the assembly versions of
// one row of MixHeads and MixHeadsDW for d a multiple of 8 (d8 = d/8,
// dBytes = 4d); set by the amd64 build.
var (
	mixRowVec   func(out, in, w *float32, G, H, d8, dBytes int)
	mixDWRowVec func(acc, in, g *float32, G, H, d8, dBytes int)
)

// MixHeads is the package's MixHeads (model.HeadMixer).
func (Compute) MixHeads(out []float32, ldo int, in []float32, ldi int, w []float32, n, G, H, d int) {
	MixHeads(out, ldo, in, ldi, w, n, G, H, d)
}

// MixHeadsDW is the package's MixHeadsDW (model.HeadMixer).
func (Compute) MixHeadsDW(dw, scratch, in []float32, ldi int, g []float32, ldg int, n, G, H, d int) {
	MixHeadsDW(dw, scratch, in, ldi, g, ldg, n, G, H, d)
}
