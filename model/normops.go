package model

import "math"

// Optional float32 kernels a backend may add to Compute besides VecMath and
// HeadMixer: the rows of RMSNorm and GroupNorm (NormMath), their gain
// gradients (GainMath), and the cross-entropy through the backend's exps.
// Without them, and for float64 models, the reference loops run.

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
