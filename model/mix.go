package model

import "math"

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

// GainMath is what a backend may add to Compute for the gain gradients of
// RMSNorm and GroupNorm: acc[i] += (a[i]*b[i])*s, rounded after each
// operation, in float32 (cpu.AddMulScaled). The model then sums each column
// over chunks of gainChunk rows in float32 and the chunks in float64;
// without it (and for float64 models) every row is summed in float64.
type GainMath interface {
	AddMulScaled(acc, a, b []float32, s float32)
}

// gainChunk is the number of rows a column of a gain gradient sums in
// float32 before the sum joins the float64 total.
const gainChunk = 32

func pickGainMul[T Float](c Compute) func(acc, a, b []T, s T) {
	var zero T
	if gm, ok := c.(GainMath); ok {
		if _, f32 := any(zero).(float32); f32 {
			return any(gm.AddMulScaled).(func(acc, a, b []T, s T))
		}
	}
	return nil
}

// rmsnormGainGradChunked is rmsnormGainGrad with float32 chunk sums through
// mul (GainMath.AddMulScaled); tmp has P*dim elements. Each column's sum
// depends only on the rows, never on how columns are split over threads.
func rmsnormGainGradChunked[T Float](mul func(acc, a, b []T, s T), dgain, dout, x, rstd []T, acc []float64, tmp []T, R, dim, P, c0, c1 int) {
	clear(acc[c0:c1])
	for r0 := 0; r0 < R; r0 += gainChunk {
		clear(tmp[c0:c1])
		for r := r0; r < min(R, r0+gainChunk); r++ {
			p := r % P
			lo, hi := max(c0, p*dim), min(c1, (p+1)*dim)
			if lo >= hi {
				continue
			}
			base := r*dim - p*dim
			mul(tmp[lo:hi], dout[base+lo:base+hi], x[base+lo:base+hi], rstd[r])
		}
		for c := c0; c < c1; c++ {
			acc[c] += float64(tmp[c])
		}
	}
	for c := c0; c < c1; c++ {
		dgain[c] += T(acc[c])
	}
}

// crossEntropyRowsVec is crossEntropyRows with the backend's float32 exps
// (vec): each row's exps go to scratch (the row's dlogits, which Backward
// overwrites), their float32 sum gives the log-sum-exp, the loss stays
// float64.
func crossEntropyRowsVec[T Float](vec vecOps[T], lse []T, rowLoss []float64, logits, scratch []T, targets []int32, N, V int) {
	for n := 0; n < N; n++ {
		row := logits[n*V : (n+1)*V]
		_, mx := vec.minMax(row)
		s := copy(scratch[n*V:(n+1)*V], row)
		sum := vec.expShiftSum(scratch[n*V:n*V+s], mx)
		l := float64(mx) + math.Log(float64(sum))
		for _, v := range row {
			if v != v { // the float32 exps make a NaN finite; crossEntropyRows gives NaN
				l = math.NaN()
				break
			}
		}
		lse[n] = T(l)
		rowLoss[n] = 0
		if tg := targets[n]; tg >= 0 {
			rowLoss[n] = l - float64(row[tg])
		}
	}
}

// crossEntropyBackwardVec is crossEntropyBackward with the backend's exps:
// exp(logit - lse + log(scale)) is the probability times scale in one call.
func crossEntropyBackwardVec[T Float](vec vecOps[T], dlogits, logits, lse []T, targets []int32, N, V int, scale float64) {
	logScale := math.Log(scale)
	for n := 0; n < N; n++ {
		d := dlogits[n*V : (n+1)*V]
		tg := targets[n]
		if tg < 0 {
			clear(d)
			continue
		}
		copy(d, logits[n*V:(n+1)*V])
		if scale > 0 && !math.IsInf(logScale, 0) {
			vec.expShiftSum(d, T(float64(lse[n])-logScale))
		} else {
			vec.expShiftSum(d, lse[n])
			for i := range d {
				d[i] = T(float64(d[i]) * scale)
			}
		}
		d[tg] -= T(scale)
	}
}

// NormMath is what a backend may add to Compute for the rows of RMSNorm and
// the per-head GroupNorm in float32 (cpu.RMSNormRows, cpu.RMSNormBackRows):
// the same arithmetic as rmsnormRowsFast and rmsnormBackwardRowsFast with
// vector partial sums.
type NormMath interface {
	RMSNormRows(out, rstd, x, gain []float32, R, dim, P int, eps float64)
	RMSNormBackRows(dx, dout, x, gain, rstd []float32, R, dim, P int, add bool)
}

// normOps are the model's RMSNorm row kernels for its element type.
type normOps[T Float] struct {
	rows     func(out, rstd, x, gain []T, R, dim, P int)
	backRows func(dx, dout, x, gain, rstd []T, R, dim, P int, add bool)
}

func pickNorm[T Float](c Compute) normOps[T] {
	var zero T
	if nm, ok := c.(NormMath); ok {
		if _, f32 := any(zero).(float32); f32 {
			return any(normOps[float32]{
				rows: func(out, rstd, x, gain []float32, R, dim, P int) {
					nm.RMSNormRows(out, rstd, x, gain, R, dim, P, normEps)
				},
				backRows: nm.RMSNormBackRows,
			}).(normOps[T])
		}
	}
	return normOps[T]{rows: rmsnormRowsFast[T], backRows: rmsnormBackwardRowsFast[T]}
}
