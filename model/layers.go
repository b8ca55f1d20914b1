package model

import "math"

// Layer kernels, one forward/backward pair each, destination first. Shapes
// are given in the first comment line. Parameter gradients accumulate (+=);
// activation gradients overwrite. These are the reference kernels: written
// for clarity, checked against finite differences, and kept forever.

const normEps = 1e-5

// embedForward: out (N, D) = emb[tokens[n]] for n < N; emb is (V, D).
func embedForward[T Float](out []T, tokens []int32, emb []T, D int) {
	for n, tok := range tokens {
		copy(out[n*D:(n+1)*D], emb[int(tok)*D:(int(tok)+1)*D])
	}
}

// embedBackward: demb (V, D) += dout (N, D) scattered by tokens.
func embedBackward[T Float](demb []T, dout []T, tokens []int32, D int) {
	for n, tok := range tokens {
		row := demb[int(tok)*D : (int(tok)+1)*D]
		for i, g := range dout[n*D : (n+1)*D] {
			row[i] += g
		}
	}
}

// rmsnormForward: out (R, dim), rstd (R) from x (R, dim) and gain (P*dim):
// row r uses gain[(r%P)*dim:], so P=1 is RMSNorm over the model width and
// P=H with dim=d is the per-head GroupNorm of MEA.
func rmsnormForward[T Float](out, rstd, x, gain []T, R, dim, P int) {
	for r := 0; r < R; r++ {
		xr := x[r*dim : (r+1)*dim]
		var ss float64
		for _, v := range xr {
			ss += float64(v) * float64(v)
		}
		s := 1 / math.Sqrt(ss/float64(dim)+normEps)
		rstd[r] = T(s)
		g := gain[(r%P)*dim : (r%P+1)*dim]
		o := out[r*dim : (r+1)*dim]
		for i, v := range xr {
			o[i] = T(float64(v)*s) * g[i]
		}
	}
}

// rmsnormBackward: dx (R, dim) overwritten, dgain (P*dim) accumulated, from
// dout (R, dim), x, gain and the rstd saved by the forward pass.
func rmsnormBackward[T Float](dx, dgain, dout, x, gain, rstd []T, R, dim, P int) {
	for r := 0; r < R; r++ {
		xr := x[r*dim : (r+1)*dim]
		dr := dout[r*dim : (r+1)*dim]
		g := gain[(r%P)*dim : (r%P+1)*dim]
		dg := dgain[(r%P)*dim : (r%P+1)*dim]
		s := float64(rstd[r])
		// dx = s * (g*dout - xhat * mean(g*dout*xhat)).
		var dot float64
		for i := range xr {
			xhat := float64(xr[i]) * s
			dot += float64(dr[i]) * float64(g[i]) * xhat
			dg[i] += T(float64(dr[i]) * xhat)
		}
		dot /= float64(dim)
		o := dx[r*dim : (r+1)*dim]
		for i := range xr {
			xhat := float64(xr[i]) * s
			o[i] = T(s * (float64(dr[i])*float64(g[i]) - xhat*dot))
		}
	}
}

// ropeTable returns cos and sin tables (T, d/2) for the rotate-half
// convention used by Llama in Hugging Face: feature i pairs with i + d/2 and
// rotates by pos * theta^(-2i/d).
func ropeTable[T Float](T_, d int, theta float64) (cos, sin []T) {
	half := d / 2
	cos = make([]T, T_*half)
	sin = make([]T, T_*half)
	for p := 0; p < T_; p++ {
		for i := 0; i < half; i++ {
			f := math.Pow(theta, -2*float64(i)/float64(d))
			a := float64(p) * f
			cos[p*half+i] = T(math.Cos(a))
			sin[p*half+i] = T(math.Sin(a))
		}
	}
	return cos, sin
}

// ropeForward rotates, in place, heads [h0, h1) of every row of x (N rows of
// stride ld, head h at column h*d); row n is at position pos0 + n%T.
func ropeForward[T Float](x []T, N, T_, ld, h0, h1, d, pos0 int, cos, sin []T) {
	half := d / 2
	for n := 0; n < N; n++ {
		p := pos0 + n%T_
		c, s := cos[p*half:(p+1)*half], sin[p*half:(p+1)*half]
		for h := h0; h < h1; h++ {
			v := x[n*ld+h*d : n*ld+(h+1)*d]
			for i := 0; i < half; i++ {
				a, b := v[i], v[i+half]
				v[i] = a*c[i] - b*s[i]
				v[i+half] = a*s[i] + b*c[i]
			}
		}
	}
}

// ropeBackward: the rotation is orthogonal, so its backward pass rotates the
// gradient (in place, same layout as ropeForward) by the negative angle.
func ropeBackward[T Float](dx []T, N, T_, ld, h0, h1, d, pos0 int, cos, sin []T) {
	half := d / 2
	for n := 0; n < N; n++ {
		p := pos0 + n%T_
		c, s := cos[p*half:(p+1)*half], sin[p*half:(p+1)*half]
		for h := h0; h < h1; h++ {
			v := dx[n*ld+h*d : n*ld+(h+1)*d]
			for i := 0; i < half; i++ {
				a, b := v[i], v[i+half]
				v[i] = a*c[i] + b*s[i]
				v[i+half] = -a*s[i] + b*c[i]
			}
		}
	}
}

// groupOf is the GQA grouping: composite head j of H reads component head
// floor(j*G/H) (consecutive heads, near-equal groups).
func groupOf(j, G, H int) int { return j * G / H }

// mixForward: out (N, H, d) from component heads in (N rows of stride ld,
// G heads of width d starting at column off). With W (G, H) it is HLC:
// out[n,j,:] = sum_i W[i,j] in[n,i,:]; with W nil it is the fixed GQA/MHA
// grouping (a copy).
func mixForward[T Float](out, in []T, W []T, N, ld, off, G, H, d int) {
	for n := 0; n < N; n++ {
		src := in[n*ld+off : n*ld+off+G*d]
		dst := out[n*H*d : (n+1)*H*d]
		for j := 0; j < H; j++ {
			o := dst[j*d : (j+1)*d]
			if W == nil {
				i := groupOf(j, G, H)
				copy(o, src[i*d:(i+1)*d])
				continue
			}
			clear(o)
			for i := 0; i < G; i++ {
				w := W[i*H+j]
				if w == 0 {
					continue
				}
				for k, v := range src[i*d : (i+1)*d] {
					o[k] += w * v
				}
			}
		}
	}
}

// mixBackward: din (N rows of stride ld, G heads at column off) overwritten,
// dW (G, H) accumulated (when both W and dW are not nil), from dout (N, H, d).
func mixBackward[T Float](din, dW, dout, in, W []T, N, ld, off, G, H, d int) {
	for n := 0; n < N; n++ {
		src := in[n*ld+off : n*ld+off+G*d]
		dsrc := din[n*ld+off : n*ld+off+G*d]
		g := dout[n*H*d : (n+1)*H*d]
		clear(dsrc)
		for j := 0; j < H; j++ {
			gj := g[j*d : (j+1)*d]
			if W == nil {
				i := groupOf(j, G, H)
				ds := dsrc[i*d : (i+1)*d]
				for k, v := range gj {
					ds[k] += v
				}
				continue
			}
			for i := 0; i < G; i++ {
				w := W[i*H+j]
				ds := dsrc[i*d : (i+1)*d]
				si := src[i*d : (i+1)*d]
				var dot T
				for k, v := range gj {
					ds[k] += w * v
					dot += si[k] * v
				}
				if dW != nil {
					dW[i*H+j] += dot
				}
			}
		}
	}
}

// attnForward: causal softmax attention for sequences [bh0, bh1) of the
// B*H (sequence, head) pairs. out (B*T, H*d); att (B*H, T, T) keeps the
// probabilities for the backward pass; q is read from qkv (row stride ldq,
// head h at column h*d); k and v are the composite heads (B*T, H*d). It
// returns the largest |logit| seen, the stability signal of the LR sweep.
func attnForward[T Float](out, att, qkv []T, ldq int, k, v []T, bh0, bh1, T_, H, d int) float64 {
	scale := 1 / math.Sqrt(float64(d))
	hd := H * d
	var maxLogit float64
	for bh := bh0; bh < bh1; bh++ {
		b, h := bh/H, bh%H
		for t := 0; t < T_; t++ {
			q := qkv[(b*T_+t)*ldq+h*d : (b*T_+t)*ldq+(h+1)*d]
			p := att[(bh*T_+t)*T_ : (bh*T_+t)*T_+t+1]
			mx := math.Inf(-1)
			for u := 0; u <= t; u++ {
				ku := k[(b*T_+u)*hd+h*d : (b*T_+u)*hd+(h+1)*d]
				var s T
				for i, qv := range q {
					s += qv * ku[i]
				}
				sv := float64(s) * scale
				p[u] = T(sv)
				mx = max(mx, sv)
				maxLogit = max(maxLogit, math.Abs(sv))
			}
			var sum float64
			for u := range p {
				e := math.Exp(float64(p[u]) - mx)
				p[u] = T(e)
				sum += e
			}
			inv := 1 / sum
			o := out[(b*T_+t)*hd+h*d : (b*T_+t)*hd+(h+1)*d]
			clear(o)
			for u := range p {
				p[u] = T(float64(p[u]) * inv)
				vu := v[(b*T_+u)*hd+h*d : (b*T_+u)*hd+(h+1)*d]
				pu := p[u]
				for i, vv := range vu {
					o[i] += pu * vv
				}
			}
		}
	}
	return maxLogit
}

// attnBackward: for (sequence, head) pairs [bh0, bh1): dq into dqkv (same
// layout as qkv) overwritten, dk and dv (B*T, H*d) overwritten, from dout
// (B*T, H*d), the saved probabilities att, q (in qkv), k and v. dp is
// scratch of at least T elements per pair (indexed by bh).
func attnBackward[T Float](dqkv, dk, dv, dout, att, qkv []T, ldq int, k, v, dp []T, bh0, bh1, T_, H, d int) {
	scale := T(1 / math.Sqrt(float64(d)))
	hd := H * d
	for bh := bh0; bh < bh1; bh++ {
		b, h := bh/H, bh%H
		for u := 0; u < T_; u++ {
			clear(dk[(b*T_+u)*hd+h*d : (b*T_+u)*hd+(h+1)*d])
			clear(dv[(b*T_+u)*hd+h*d : (b*T_+u)*hd+(h+1)*d])
		}
		scratch := dp[bh*T_ : (bh+1)*T_]
		for t := 0; t < T_; t++ {
			p := att[(bh*T_+t)*T_ : (bh*T_+t)*T_+t+1]
			do := dout[(b*T_+t)*hd+h*d : (b*T_+t)*hd+(h+1)*d]
			q := qkv[(b*T_+t)*ldq+h*d : (b*T_+t)*ldq+(h+1)*d]
			dq := dqkv[(b*T_+t)*ldq+h*d : (b*T_+t)*ldq+(h+1)*d]
			// dP[u] = do . v_u; dS[u] = P[u] (dP[u] - sum_u' P[u'] dP[u']).
			var dot T
			for u := 0; u <= t; u++ {
				vu := v[(b*T_+u)*hd+h*d : (b*T_+u)*hd+(h+1)*d]
				dvu := dv[(b*T_+u)*hd+h*d : (b*T_+u)*hd+(h+1)*d]
				var s T
				pu := p[u]
				for i, g := range do {
					s += g * vu[i]
					dvu[i] += pu * g
				}
				scratch[u] = s
				dot += pu * s
			}
			clear(dq)
			for u := 0; u <= t; u++ {
				ds := p[u] * (scratch[u] - dot) * scale
				ku := k[(b*T_+u)*hd+h*d : (b*T_+u)*hd+(h+1)*d]
				dku := dk[(b*T_+u)*hd+h*d : (b*T_+u)*hd+(h+1)*d]
				for i := range dq {
					dq[i] += ds * ku[i]
					dku[i] += ds * q[i]
				}
			}
		}
	}
}

// swigluForward: h (N, F) = silu(a) * b where ab (N, 2F) holds a then b;
// sig (N, F), when not nil, keeps sigma(a) for the backward pass.
func swigluForward[T Float](h, sig, ab []T, N, F int) {
	for n := 0; n < N; n++ {
		a, b := ab[n*2*F:n*2*F+F], ab[n*2*F+F:(n+1)*2*F]
		o := h[n*F : (n+1)*F]
		for i := range o {
			x := float64(a[i])
			sg := 1 / (1 + math.Exp(-x))
			o[i] = T(x*sg) * b[i]
			if sig != nil {
				sig[n*F+i] = T(sg)
			}
		}
	}
}

// swigluBackward: dab (N, 2F) overwritten from dh (N, F), ab and the sigma(a)
// the forward pass kept.
func swigluBackward[T Float](dab, dh, ab, sig []T, N, F int) {
	for n := 0; n < N; n++ {
		a, b := ab[n*2*F:n*2*F+F], ab[n*2*F+F:(n+1)*2*F]
		da, db := dab[n*2*F:n*2*F+F], dab[n*2*F+F:(n+1)*2*F]
		g, sg := dh[n*F:(n+1)*F], sig[n*F:(n+1)*F]
		for i := range g {
			// d silu/dx = sigma(x) (1 + x (1 - sigma(x))).
			s, x := sg[i], a[i]
			da[i] = g[i] * b[i] * s * (1 + x*(1-s))
			db[i] = g[i] * x * s
		}
	}
}

// crossEntropyForward: lse (N) and the summed loss over rows whose target is
// not negative, from logits (N, V); negative targets are ignored (MQAR scores
// only its answer positions). It returns the sum and the count of scored rows.
func crossEntropyForward[T Float](lse, logits []T, targets []int32, N, V int) (sum float64, count int) {
	for n := 0; n < N; n++ {
		row := logits[n*V : (n+1)*V]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = max(mx, float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - mx)
		}
		l := mx + math.Log(s)
		lse[n] = T(l)
		if tg := targets[n]; tg >= 0 {
			sum += l - float64(row[tg])
			count++
		}
	}
	return sum, count
}

// crossEntropyBackward: dlogits (N, V) overwritten with scale * (softmax -
// onehot) for scored rows and zero for ignored ones.
func crossEntropyBackward[T Float](dlogits, logits, lse []T, targets []int32, N, V int, scale float64) {
	for n := 0; n < N; n++ {
		d := dlogits[n*V : (n+1)*V]
		tg := targets[n]
		if tg < 0 {
			clear(d)
			continue
		}
		row := logits[n*V : (n+1)*V]
		l := float64(lse[n])
		for i, v := range row {
			d[i] = T(math.Exp(float64(v)-l) * scale)
		}
		d[tg] -= T(scale)
	}
}

// addInto: dst += src.
func addInto[T Float](dst, src []T) {
	for i, v := range src {
		dst[i] += v
	}
}

// The fast paths below split reference kernels so rows and parameter
// columns can be processed in parallel without races; each is checked
// against its reference in tests.

// rmsnormBackwardRows: dx (R, dim) overwritten (or, with add, accumulated),
// the row half of rmsnormBackward.
func rmsnormBackwardRows[T Float](dx, dout, x, gain, rstd []T, R, dim, P int, add bool) {
	for r := 0; r < R; r++ {
		xr := x[r*dim : (r+1)*dim]
		dr := dout[r*dim : (r+1)*dim]
		g := gain[(r%P)*dim : (r%P+1)*dim]
		s := float64(rstd[r])
		var dot float64
		for i := range xr {
			dot += float64(dr[i]) * float64(g[i]) * float64(xr[i]) * s
		}
		dot /= float64(dim)
		o := dx[r*dim : (r+1)*dim]
		for i := range xr {
			v := T(s * (float64(dr[i])*float64(g[i]) - float64(xr[i])*s*dot))
			if add {
				o[i] += v
			} else {
				o[i] = v
			}
		}
	}
}

// rmsnormGainGrad: dgain[c0:c1] (of P*dim) accumulated, the gain half of
// rmsnormBackward. Each gain entry sums over its rows in row order, so the
// result does not depend on how columns are split. Rows are the outer loop
// (memory is read row by row, not down columns); acc holds the float64 sums
// of the chunk's columns (any scratch of at least P*dim, indexed by column).
func rmsnormGainGrad[T Float](dgain, dout, x, rstd []T, acc []float64, R, dim, P, c0, c1 int) {
	clear(acc[c0:c1])
	for r := 0; r < R; r++ {
		p := r % P
		lo, hi := max(c0, p*dim), min(c1, (p+1)*dim)
		if lo >= hi {
			continue
		}
		s := float64(rstd[r])
		base := r*dim - p*dim
		for c := lo; c < hi; c++ {
			acc[c] += float64(dout[base+c]) * float64(x[base+c]) * s
		}
	}
	for c := c0; c < c1; c++ {
		dgain[c] += T(acc[c])
	}
}

// mixGradW: dW[i,j] for pairs [p0, p1) of the G*H mixing entries
// accumulated: sum over rows of <in[n,i,:], dout[n,j,:]>.
func mixGradW[T Float](dW, dout, in []T, N, ld, off, G, H, d, p0, p1 int) {
	for p := p0; p < p1; p++ {
		i, j := p/H, p%H
		var s T
		for n := 0; n < N; n++ {
			a := in[n*ld+off+i*d : n*ld+off+(i+1)*d]
			b := dout[n*H*d+j*d : n*H*d+(j+1)*d]
			for k, v := range a {
				s += v * b[k]
			}
		}
		dW[p] += s
	}
}

// crossEntropyRows: lse (N) and per-row losses (0 for ignored rows) from
// logits (N, V), the row-parallel half of crossEntropyForward.
func crossEntropyRows[T Float](lse []T, rowLoss []float64, logits []T, targets []int32, N, V int) {
	for n := 0; n < N; n++ {
		row := logits[n*V : (n+1)*V]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = max(mx, float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - mx)
		}
		l := mx + math.Log(s)
		lse[n] = T(l)
		rowLoss[n] = 0
		if tg := targets[n]; tg >= 0 {
			rowLoss[n] = l - float64(row[tg])
		}
	}
}

// rmsnormRowsFast is rmsnormForward with the sum of squares in the model's
// own precision over four partial sums (the reference sums in float64, one
// element at a time): the training step's RMSNorm and per-head GroupNorm.
// It agrees with the reference to rounding (TestFastBackendMatchesNaive,
// TestSplitKernelsMatchReference).
func rmsnormRowsFast[T Float](out, rstd, x, gain []T, R, dim, P int) {
	for r := 0; r < R; r++ {
		xr := x[r*dim : (r+1)*dim]
		s := T(1 / math.Sqrt(float64(sumSquares(xr))/float64(dim)+normEps))
		rstd[r] = s
		g := gain[(r%P)*dim : (r%P+1)*dim]
		o := out[r*dim : (r+1)*dim]
		g = g[:len(xr)]
		o = o[:len(xr)]
		for i, v := range xr {
			o[i] = v * s * g[i]
		}
	}
}

// rmsnormBackwardRowsFast is rmsnormBackwardRows in the model's own
// precision with partial sums (see rmsnormRowsFast).
func rmsnormBackwardRowsFast[T Float](dx, dout, x, gain, rstd []T, R, dim, P int, add bool) {
	for r := 0; r < R; r++ {
		xr := x[r*dim : (r+1)*dim]
		dr := dout[r*dim : (r+1)*dim]
		g := gain[(r%P)*dim : (r%P+1)*dim]
		dr, g = dr[:len(xr)], g[:len(xr)]
		s := rstd[r]
		var d0, d1, d2, d3 T
		i := 0
		for ; i+4 <= len(xr); i += 4 {
			d0 += dr[i] * g[i] * xr[i]
			d1 += dr[i+1] * g[i+1] * xr[i+1]
			d2 += dr[i+2] * g[i+2] * xr[i+2]
			d3 += dr[i+3] * g[i+3] * xr[i+3]
		}
		for ; i < len(xr); i++ {
			d0 += dr[i] * g[i] * xr[i]
		}
		// dx = s (g dout - x s^2 mean(g dout x)).
		c := (d0 + d1 + d2 + d3) * s * s / T(dim)
		o := dx[r*dim : (r+1)*dim]
		o = o[:len(xr)]
		if add {
			for i := range xr {
				o[i] += s * (dr[i]*g[i] - xr[i]*c)
			}
		} else {
			for i := range xr {
				o[i] = s * (dr[i]*g[i] - xr[i]*c)
			}
		}
	}
}

func sumSquares[T Float](x []T) T {
	var s0, s1, s2, s3 T
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += x[i] * x[i]
		s1 += x[i+1] * x[i+1]
		s2 += x[i+2] * x[i+2]
		s3 += x[i+3] * x[i+3]
	}
	for ; i < len(x); i++ {
		s0 += x[i] * x[i]
	}
	return s0 + s1 + s2 + s3
}
