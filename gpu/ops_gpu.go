//go:build cuda || cudaemu

package gpu

// Typed launchers, one per kernel in kernels/*.cu. Sizes are elements;
// pointers are device addresses. Each only queues work on the stream.

import "fmt"

const threads = 256

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// elementwise grid: enough blocks to cover n, capped (the kernels loop).
func (r *gpuRuntime) blocksFor(n int64) int {
	b := (n + threads - 1) / threads
	limit := int64(r.info.SMs) * 32
	if limit < 1 {
		limit = 1024
	}
	if b > limit {
		b = limit
	}
	return int(b)
}

// gemmOp describes C = alpha*op(A)*op(B) + beta*C, optionally batched over
// Z problems where operand X of problem z starts at X + (z/Zdiv)*SX1 +
// (z%Zdiv)*SX2 elements, and optionally causal (see gemm.cu).
type gemmOp struct {
	TA, TB      bool
	M, N, K     int
	Alpha, Beta float32
	A           devPtr
	LDA         int
	SA1, SA2    int64
	B           devPtr
	LDB         int
	SB1, SB2    int64
	C           devPtr
	LDC         int
	SC1, SC2    int64
	Z, Zdiv     int
	Causal      int
	ForceTile   int // 64 or 128 to pick the tile (tests); 0 chooses
	ForceSplit  int // split-K factor (tests); 0 chooses, 1 disables
	ForceGemm   int // tests: -1 CUDA cores, 1 or 3 tensor-core passes; 0 the runtime's choice
}

func (r *gpuRuntime) gemm(g gemmOp) error {
	if g.M <= 0 || g.N <= 0 {
		return nil
	}
	if g.Z <= 0 {
		g.Z = 1
	}
	if g.Zdiv <= 0 {
		g.Zdiv = 1
	}
	if g.K <= 0 {
		// C = beta*C: a product over nothing. Not used by the model.
		return fmt.Errorf("cuda: gemm with k=%d", g.K)
	}
	tile := g.ForceTile
	if tile == 0 {
		tile = 64
		if ceilDiv(g.M, 128)*ceilDiv(g.N, 128)*g.Z >= 2*r.info.SMs {
			tile = 128
		}
	}
	passes := r.tc
	switch {
	case g.ForceGemm < 0:
		passes = 0
	case g.ForceGemm > 0:
		passes = g.ForceGemm
	}
	name := "gemm_"
	if passes > 0 {
		name = "gemm_tc_"
	}
	if g.TA {
		name += "t"
	} else {
		name += "n"
	}
	if g.TB {
		name += "t"
	} else {
		name += "n"
	}
	name += fmt.Sprintf("_%d", tile)
	tiles := ceilDiv(g.M, tile) * ceilDiv(g.N, tile)
	split := g.ForceSplit
	if split == 0 && g.Z == 1 && g.Causal == 0 && tiles < r.info.SMs {
		// Too few tiles to fill the GPU and a long k (weight gradients sum
		// over every token): split k, at least 256 deep per part.
		split = min(ceilDiv(2*r.info.SMs, tiles), g.K/256, 32)
	}
	if split > 1 && g.Z == 1 && g.Causal == 0 {
		chunk := ceilDiv(g.K, split)
		split = ceilDiv(g.K, chunk)
		ws, err := r.workspace(split * g.M * g.N)
		if err != nil {
			return err
		}
		args := []uint64{iArg(g.M), iArg(g.N), iArg(g.K), fArg(g.Alpha),
			pArg(g.A), iArg(g.LDA), 0, 0,
			pArg(g.B), iArg(g.LDB), 0, 0,
			fArg(0), pArg(ws), iArg(g.N), lArg(int64(g.M) * int64(g.N)), 0,
			iArg(1), iArg(0), iArg(chunk)}
		if passes > 0 {
			args = append(args, iArg(passes))
		}
		err = r.launch(name, ceilDiv(g.N, tile), ceilDiv(g.M, tile), split, threads, args...)
		if err != nil {
			return err
		}
		return r.launch("splitk_reduce", r.blocksFor(int64(g.M)*int64(g.N)), 1, 1, threads,
			pArg(g.C), iArg(g.LDC), pArg(ws), iArg(g.M), iArg(g.N), iArg(split), fArg(g.Beta))
	}
	args := []uint64{iArg(g.M), iArg(g.N), iArg(g.K), fArg(g.Alpha),
		pArg(g.A), iArg(g.LDA), lArg(g.SA1), lArg(g.SA2),
		pArg(g.B), iArg(g.LDB), lArg(g.SB1), lArg(g.SB2),
		fArg(g.Beta), pArg(g.C), iArg(g.LDC), lArg(g.SC1), lArg(g.SC2),
		iArg(g.Zdiv), iArg(g.Causal), iArg(0)}
	if passes > 0 {
		args = append(args, iArg(passes))
	}
	return r.launch(name, ceilDiv(g.N, tile), ceilDiv(g.M, tile), g.Z, threads, args...)
}

// gemm2 is the unbatched product the layers use.
func (r *gpuRuntime) gemm2(ta, tb bool, m, n, k int, alpha float32, a devPtr, lda int, b devPtr, ldb int, beta float32, c devPtr, ldc int) error {
	return r.gemm(gemmOp{TA: ta, TB: tb, M: m, N: n, K: k, Alpha: alpha, A: a, LDA: lda, B: b, LDB: ldb, Beta: beta, C: c, LDC: ldc})
}

func (r *gpuRuntime) rmsnormFwd(out, rstd, x, gain devPtr, R, dim, P int) error {
	return r.launch("rmsnorm_fwd", ceilDiv(R, threads/32), 1, 1, threads,
		pArg(out), pArg(rstd), pArg(x), pArg(gain), iArg(R), iArg(dim), iArg(P))
}

// rmsnormBwd: dx overwritten, dgain (P*dim) accumulated through the partial
// buffer part (at least splits*P*dim floats, see partialSplits).
func (r *gpuRuntime) rmsnormBwd(dx, dgain, dout, x, gain, rstd devPtr, R, dim, P int, part dbuf) error {
	if err := r.launch("rmsnorm_bwd_dx", ceilDiv(R, threads/32), 1, 1, threads,
		pArg(dx), pArg(dout), pArg(x), pArg(gain), pArg(rstd), iArg(R), iArg(dim), iArg(P)); err != nil {
		return err
	}
	cols := P * dim
	rows := R / P
	xb := ceilDiv(cols, threads)
	splits := partialSplits(rows, xb, 2*r.info.SMs, part.n/cols)
	per := ceilDiv(rows, splits)
	if err := r.launch("rmsnorm_dgain_partial", xb, splits, 1, threads,
		pArg(part.ptr), pArg(dout), pArg(x), pArg(rstd), iArg(R), iArg(dim), iArg(P), iArg(per)); err != nil {
		return err
	}
	return r.launch("reduce_partials", ceilDiv(cols, threads), 1, 1, threads,
		pArg(dgain), pArg(part.ptr), iArg(cols), iArg(splits))
}

// partialSplits picks how many row ranges a column reduction uses: enough
// blocks to fill the GPU (target), at most rows, at most what the partial
// buffer holds (maxSplits), at least 1. It depends only on the shapes and
// the device, so results are reproducible on a given device.
func partialSplits(rows, xblocks, target, maxSplits int) int {
	s := ceilDiv(target, max(xblocks, 1))
	s = min(s, rows, maxSplits, 1024)
	return max(s, 1)
}

func (r *gpuRuntime) rope(x, cos, sin devPtr, N, T, ld, nheads, d int, inverse bool) error {
	inv := 0
	if inverse {
		inv = 1
	}
	return r.launch("rope", r.blocksFor(int64(N)*int64(nheads)*int64(d/2)), 1, 1, threads,
		pArg(x), pArg(cos), pArg(sin), iArg(N), iArg(T), iArg(ld), iArg(nheads), iArg(d), iArg(inv))
}

func (r *gpuRuntime) mixFwd(out, in, W devPtr, N, ld, off, G, H, d int) error {
	return r.launch("mix_fwd", r.blocksFor(int64(N)*int64(H*d)), 1, 1, threads,
		pArg(out), pArg(in), pArg(W), iArg(N), iArg(ld), iArg(off), iArg(G), iArg(H), iArg(d))
}

func (r *gpuRuntime) mixBwdIn(din, dout, W devPtr, N, ld, off, G, H, d int) error {
	return r.launch("mix_bwd_in", r.blocksFor(int64(N)*int64(G*d)), 1, 1, threads,
		pArg(din), pArg(dout), pArg(W), iArg(N), iArg(ld), iArg(off), iArg(G), iArg(H), iArg(d))
}

// mixBwdW accumulates dW (G x H) += sum_n,k in[n,i,k] dout[n,j,k].
func (r *gpuRuntime) mixBwdW(dW, dout, in devPtr, N, ld, off, G, H, d int, part dbuf) error {
	cols := G * H
	splits := partialSplits(N, cols, 2*r.info.SMs, part.n/cols)
	per := ceilDiv(N, splits)
	if err := r.launch("mix_dw_partial", cols, splits, 1, threads,
		pArg(part.ptr), pArg(dout), pArg(in), iArg(N), iArg(ld), iArg(off), iArg(G), iArg(H), iArg(d), iArg(per)); err != nil {
		return err
	}
	return r.launch("reduce_partials", ceilDiv(cols, threads), 1, 1, threads,
		pArg(dW), pArg(part.ptr), iArg(cols), iArg(splits))
}

func (r *gpuRuntime) softmaxFwd(S devPtr, T int, rows int64, maxbits devPtr) error {
	return r.launch("attn_softmax_fwd", int((rows+7)/8), 1, 1, threads, pArg(S), iArg(T), lArg(rows), pArg(maxbits))
}

func (r *gpuRuntime) softmaxBwd(P, dP devPtr, T int, rows int64) error {
	return r.launch("attn_softmax_bwd", int((rows+7)/8), 1, 1, threads, pArg(P), pArg(dP), iArg(T), lArg(rows))
}

func (r *gpuRuntime) embedFwd(out, tok, emb devPtr, N, D int) error {
	return r.launch("embed_fwd", r.blocksFor(int64(N)*int64(D)), 1, 1, threads, pArg(out), pArg(tok), pArg(emb), iArg(N), iArg(D))
}

// embedBwd: perm/offs from sortByToken.
func (r *gpuRuntime) embedBwd(demb, dout, perm, offs devPtr, V, D int) error {
	return r.launch("embed_bwd", V, ceilDiv(D, threads), 1, threads, pArg(demb), pArg(dout), pArg(perm), pArg(offs), iArg(D))
}

func (r *gpuRuntime) swigluFwd(h, ab devPtr, N, F int) error {
	return r.launch("swiglu_fwd", r.blocksFor(int64(N)*int64(F)), 1, 1, threads, pArg(h), pArg(ab), iArg(N), iArg(F))
}

func (r *gpuRuntime) swigluBwd(dab, dh, ab devPtr, N, F int) error {
	return r.launch("swiglu_bwd", r.blocksFor(int64(N)*int64(F)), 1, 1, threads, pArg(dab), pArg(dh), pArg(ab), iArg(N), iArg(F))
}

func (r *gpuRuntime) addInPlace(dst, src devPtr, n int) error {
	return r.launch("add_inplace", r.blocksFor(int64(n)), 1, 1, threads, pArg(dst), pArg(src), lArg(int64(n)))
}

// ceFwd writes lse and per-row losses, then their sum (double) to lossSum.
func (r *gpuRuntime) ceFwd(lse, rowloss, logits, targets devPtr, N, V int, lossSum devPtr) error {
	if err := r.launch("ce_fwd", N, 1, 1, threads, pArg(lse), pArg(rowloss), pArg(logits), pArg(targets), iArg(N), iArg(V)); err != nil {
		return err
	}
	return r.launch("sum_to_double", 1, 1, 1, 1024, pArg(lossSum), pArg(rowloss), iArg(N))
}

func (r *gpuRuntime) ceBwd(dlogits, logits, lse, targets devPtr, N, V int, scale float32) error {
	return r.launch("ce_bwd", r.blocksFor(int64(N)*int64(V)), 1, 1, threads,
		pArg(dlogits), pArg(logits), pArg(lse), pArg(targets), iArg(N), iArg(V), fArg(scale))
}

// sumsqBlocks is the fixed grid of the squared-norm reduction: fixed so the
// result does not depend on the device.
const sumsqBlocks = 1024

// sumsq writes sum(x^2) (double) to out, using part (sumsqBlocks doubles).
func (r *gpuRuntime) sumsq(out, x devPtr, n int, part devPtr) error {
	if err := r.launch("sumsq_partial", sumsqBlocks, 1, 1, threads, pArg(part), pArg(x), lArg(int64(n))); err != nil {
		return err
	}
	return r.launch("sum_double", 1, 1, 1, 1024, pArg(out), pArg(part), iArg(sumsqBlocks))
}

// adamwArgs are the per-step scalars of one AdamW update (see misc.cu).
type adamwArgs struct {
	clip         float64
	b1, b2       float32
	stepSize     float64
	sqrtBC2, eps float64
	shrinkDecay  float32
}

func (r *gpuRuntime) adamw(p, g, m, v, decay devPtr, n int, sumsq devPtr, a adamwArgs) error {
	return r.launch("adamw", r.blocksFor(int64(n)), 1, 1, threads,
		pArg(p), pArg(g), pArg(m), pArg(v), pArg(decay), lArg(int64(n)), pArg(sumsq),
		dArg(a.clip), fArg(a.b1), fArg(a.b2), dArg(a.stepSize), dArg(a.sqrtBC2), dArg(a.eps), fArg(a.shrinkDecay))
}
