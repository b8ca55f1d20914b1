package cpu

import (
	"sync"
	"unsafe"
)

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices.
//
// op(A) is m x k: A is stored m x k with row stride lda, or k x m with row stride
// lda when transA is set. op(B) is k x n: B is stored k x n with row stride ldb, or
// n x k when transB is set. C is m x n with row stride ldc. When beta is zero C is
// only written, so NaNs or infinities already in C do not propagate. When alpha or
// k is zero, A and B are not read and C becomes beta*C, as in the reference BLAS.
//
// Results are bit-identical for any thread count: work is split over M and N only,
// never over K, and the K summation order for every element of C is fixed. They can
// differ between kernels (see Features) and between builds with and without the
// purego tag.
//
// Sgemm panics if a dimension or stride is invalid or a slice is too short.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	if m == 1 && !transA && transB && !forceDirect {
		// A row vector times a transposed matrix (decoding one token): every
		// output is a dot product of two contiguous rows, so packing B (all
		// of a weight matrix, every call) would cost far more than the math.
		sgemvRows(n, k, alpha, a, b, ldb, beta, c)
		return
	}
	if m == 1 && !transA && !transB && !forceDirect {
		// A row vector times a matrix (decoding: probabilities times the
		// cached values): axpy over the rows of B, each read once.
		saxpyRows(n, k, alpha, a, b, ldb, beta, c)
		return
	}
	if forceDirect || useDirect(m, n, k) {
		sgemmDirect(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	sgemmPacked(kernel, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// checkArgs panics with a message naming the first invalid argument.
func checkArgs(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 {
		panic("cpu: Sgemm: m < 0")
	}
	if n < 0 {
		panic("cpu: Sgemm: n < 0")
	}
	if k < 0 {
		panic("cpu: Sgemm: k < 0")
	}
	aRows, aCols := m, k
	if transA {
		aRows, aCols = k, m
	}
	bRows, bCols := k, n
	if transB {
		bRows, bCols = n, k
	}
	if lda < max(1, aCols) {
		panic("cpu: Sgemm: bad lda")
	}
	if ldb < max(1, bCols) {
		panic("cpu: Sgemm: bad ldb")
	}
	if ldc < max(1, n) {
		panic("cpu: Sgemm: bad ldc")
	}
	if m == 0 || n == 0 {
		return
	}
	if k > 0 {
		if len(a) < (aRows-1)*lda+aCols {
			panic("cpu: Sgemm: a is too short")
		}
		if len(b) < (bRows-1)*ldb+bCols {
			panic("cpu: Sgemm: b is too short")
		}
	}
	if len(c) < (m-1)*ldc+n {
		panic("cpu: Sgemm: c is too short")
	}
}

// scaleC sets C = beta*C, writing zeros when beta is zero.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// Products of at most directMaxMNK multiply-adds skip packing: below it the fixed
// cost of the packed path (taking a job, zero-padding two panels, an edge tile)
// exceeds the whole product. Measured with the AVX-512 kernel the crossover is
// near 6x6x6; at 8x8x8 packing already wins, and single rows or columns of C are
// faster packed too. The test depends on the shape only, which keeps results
// independent of the thread count.
const directMaxMNK = 256

// forceDirect sends every product down the direct path; the tests set it so that
// the path sees more than the few tiny shapes it normally gets.
var forceDirect = false

func useDirect(m, n, k int) bool {
	return mnk(m, n, k) <= directMaxMNK
}

// mnk returns m*n*k in 64 bits, so that the size tests cannot overflow on 32-bit
// platforms.
func mnk(m, n, k int) int64 { return int64(m) * int64(n) * int64(k) }

// sgemmDirect computes C without packing, single-threaded. When op(B) = B the rows
// of B are contiguous and each row of C is built with axpy updates in k order;
// otherwise each element of C is a dot product in k order.
func sgemmDirect(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	// Element (i, p) of op(A) is a[i*ai+p*ap].
	ai, ap := lda, 1
	if transA {
		ai, ap = 1, lda
	}
	if !transB {
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			if beta == 0 {
				clear(row)
			} else if beta != 1 {
				for j := range row {
					row[j] *= beta
				}
			}
			for p := 0; p < k; p++ {
				Saxpy(alpha*a[i*ai+p*ap], b[p*ldb:p*ldb+n], row)
			}
		}
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		for j := range row {
			brow := b[j*ldb : j*ldb+k]
			var s float32
			if ap == 1 {
				arow := a[i*ai : i*ai+k]
				for p, v := range brow {
					s += arow[p] * v
				}
			} else {
				for p, v := range brow {
					s += a[i*ai+p*ap] * v
				}
			}
			if beta == 0 {
				row[j] = alpha * s
			} else {
				row[j] = float32(alpha*s) + float32(beta*row[j])
			}
		}
	}
}

// Work below parallelMinMNK multiply-adds runs on one thread. Handing out chunks
// and waiting for them costs a few microseconds; at 128x128x128 (2^21, about 20
// microseconds on one core) two threads measured no faster than one.
const parallelMinMNK = 1 << 22

// gemmJob holds one packed Sgemm call while it runs: its arguments, the blocking
// chosen for it and the packing buffers. Jobs are pooled so that steady-state calls
// allocate nothing, and the two functions handed to the worker pool are bound to
// the job once, when it is created.
type gemmJob struct {
	kern           *microKernel
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int

	nkb   int // number of k blocks; block q covers [q*k/nkb, (q+1)*k/nkb).
	q     int // the current k block.
	jc    int // first column of the current column block.
	nc    int // width of the current column block.
	ncPad int // nc rounded up to whole B panels.
	tm    int // thread grid: tm row bands times tn column bands.
	tn    int

	bpack []float32   // packed B of the current k block and column block.
	apack [][]float32 // per thread: one packed mc x kc block of A.
	edge  [][]float32 // per thread: an mr x nr scratch tile for the edges of C.

	packFn, computeFn func(lo, hi int)
}

var jobs struct {
	mu   sync.Mutex
	free []*gemmJob
}

// getJob takes a job from the free list. A plain list rather than sync.Pool keeps
// the buffers across garbage collections, which is what makes the steady state
// allocation-free.
func getJob() *gemmJob {
	jobs.mu.Lock()
	var j *gemmJob
	if n := len(jobs.free); n > 0 {
		j = jobs.free[n-1]
		jobs.free = jobs.free[:n-1]
	}
	jobs.mu.Unlock()
	if j == nil {
		j = new(gemmJob)
		j.packFn = j.packB
		j.computeFn = j.compute
	}
	return j
}

func putJob(j *gemmJob) {
	// Drop the caller's matrices so that the free list does not keep them alive.
	j.a, j.b, j.c = nil, nil, nil
	jobs.mu.Lock()
	jobs.free = append(jobs.free, j)
	jobs.mu.Unlock()
}

// alignedFloats returns a slice of n floats whose first element is 64-byte aligned,
// reusing buf when it is large enough. Aligned panels keep every vector load of the
// kernel inside one cache line.
func alignedFloats(buf []float32, n int) []float32 {
	if cap(buf) >= n && uintptr(unsafe.Pointer(unsafe.SliceData(buf)))%64 == 0 {
		return buf[:n]
	}
	raw := make([]float32, n+16)
	off := 0
	if mis := uintptr(unsafe.Pointer(&raw[0])) % 64; mis != 0 {
		off = int(64-mis) / 4
	}
	return raw[off : off+n : off+n]
}

// sgemmPacked runs the blocked algorithm with kernel kern. Loop nest:
//
//	for each nc columns:             B block kc x nc (L2, L3)
//	  for each k block:              C += A(:, kblock) * B(kblock, :)
//	    pack B's kc x nc block       (in parallel, then wait)
//	    each thread, over its band of rows and columns:
//	      for each mc rows:          pack A's mc x kc block (L2)
//	        for each nr columns:     B panel kc x nr (L1)
//	          for each mr rows:      kernel
//
// The first k block applies beta and later ones add to C, so every element of C
// sees the same sequence of operations whichever thread computes it.
func sgemmPacked(kern *microKernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	j := getJob()
	j.kern = kern
	j.transA, j.transB = transA, transB
	j.m, j.n, j.k = m, n, k
	j.alpha, j.beta = alpha, beta
	j.a, j.b, j.c = a, b, c
	j.lda, j.ldb, j.ldc = lda, ldb, ldc
	j.nkb = (k + kern.kc - 1) / kern.kc

	mr, nr := kern.mr, kern.nr
	mTiles := (m + mr - 1) / mr
	nTiles := (n + nr - 1) / nr
	nt := 1
	if mnk(m, n, k) >= parallelMinMNK {
		nt = pool.acquire(min(Threads(), mTiles*nTiles))
	}
	if nt > 1 {
		defer pool.release()
	}
	for len(j.apack) < nt {
		j.apack = append(j.apack, nil)
		j.edge = append(j.edge, nil)
	}
	for t := 0; t < nt; t++ {
		j.apack[t] = alignedFloats(j.apack[t], kern.mc*kern.kc)
		j.edge[t] = alignedFloats(j.edge[t], mr*nr)
	}

	for jc := 0; jc < n; jc += kern.nc {
		j.jc = jc
		j.nc = min(kern.nc, n-jc)
		panels := (j.nc + nr - 1) / nr
		j.ncPad = panels * nr
		j.bpack = alignedFloats(j.bpack, min(k, kern.kc)*j.ncPad)
		j.tm, j.tn = threadGrid(nt, mTiles, panels, mr, nr)
		for q := 0; q < j.nkb; q++ {
			j.q = q
			if nt > 1 {
				pool.run(nt, panels, j.packFn)
				pool.run(nt, nt, j.computeFn)
			} else {
				j.packB(0, panels)
				j.compute(0, 1)
			}
		}
	}
	putJob(j)
}

// threadGrid splits nt threads into tm row bands times tn column bands. It
// minimises the largest band's cost, estimated as its multiply-adds plus the
// packing of its rows of A, which every column band repeats; an element packed
// costs about as much as 32 multiply-adds.
func threadGrid(nt, mTiles, nTiles, mr, nr int) (tm, tn int) {
	best := -1
	for cand := nt; cand >= 1; cand-- {
		if nt%cand != 0 {
			continue
		}
		rows := (mTiles + cand - 1) / cand * mr
		cols := (nTiles + nt/cand - 1) / (nt / cand) * nr
		cost := rows * (cols + 32)
		if best < 0 || cost < best {
			best, tm, tn = cost, cand, nt/cand
		}
	}
	return tm, tn
}

// kBlock returns the start and length of k block q; the blocks differ in length by
// at most one and depend on k and the kernel only.
func (j *gemmJob) kBlock(q int) (p0, kq int) {
	p0 = q * j.k / j.nkb
	return p0, (q+1)*j.k/j.nkb - p0
}

// packB packs panels [lo, hi) of the current k block and column block.
func (j *gemmJob) packB(lo, hi int) {
	nr := j.kern.nr
	p0, kq := j.kBlock(j.q)
	for jp := lo; jp < hi; jp++ {
		col := j.jc + jp*nr
		valid := min(nr, j.jc+j.nc-col)
		dst := j.bpack[jp*kq*nr : (jp+1)*kq*nr]
		if j.transB {
			packTranspose(dst, j.b[col*j.ldb+p0:], j.ldb, nr, valid, kq)
		} else {
			packCopy(dst, j.b[p0*j.ldb+col:], j.ldb, nr, valid, kq)
		}
	}
}

// packA packs rows [i0, i0+rows) of op(A) for k block (p0, kq) into dst.
func (j *gemmJob) packA(dst []float32, i0, rows, p0, kq int) {
	mr := j.kern.mr
	for ip := 0; ip*mr < rows; ip++ {
		row := i0 + ip*mr
		valid := min(mr, j.m-row)
		d := dst[ip*kq*mr : (ip+1)*kq*mr]
		if j.transA {
			packCopy(d, j.a[p0*j.lda+row:], j.lda, mr, valid, kq)
		} else {
			packTranspose(d, j.a[row*j.lda+p0:], j.lda, mr, valid, kq)
		}
	}
}

// compute runs thread bands [lo, hi) of the current k block and column block. Each
// band uses the packing buffers of index lo, so the calls running at once never
// share one.
func (j *gemmJob) compute(lo, hi int) {
	kern := j.kern
	mr, nr := kern.mr, kern.nr
	mTiles := (j.m + mr - 1) / mr
	panels := j.ncPad / nr
	abuf, edge := j.apack[lo], j.edge[lo]
	for t := lo; t < hi; t++ {
		ti, tj := t/j.tn, t%j.tn
		r0 := ti * mTiles / j.tm * mr
		r1 := min(j.m, (ti+1)*mTiles/j.tm*mr)
		c0 := tj * panels / j.tn * nr
		c1 := min(j.nc, (tj+1)*panels/j.tn*nr)
		p0, kq := j.kBlock(j.q)
		beta, load := j.beta, j.beta != 0
		if j.q > 0 {
			beta, load = 1, true
		}
		for ic := r0; ic < r1; ic += kern.mc {
			mcb := min(kern.mc, r1-ic)
			j.packA(abuf, ic, mcb, p0, kq)
			for jr := c0; jr < c1; jr += nr {
				bp := j.bpack[(jr/nr)*kq*nr : (jr/nr+1)*kq*nr]
				nv := min(nr, j.nc-jr)
				for ir := 0; ir < mcb; ir += mr {
					ap := abuf[(ir/mr)*kq*mr : (ir/mr+1)*kq*mr]
					mv := min(mr, mcb-ir)
					off := (ic+ir)*j.ldc + j.jc + jr
					if mv == mr && nv == nr {
						kern.fn(kq, ap, bp, j.c[off:], j.ldc, j.alpha, beta, load)
						continue
					}
					j.edgeTile(edge, ap, bp, off, mv, nv, kq, beta, load)
				}
			}
		}
	}
}

// edgeTile computes a tile of C that is cut by the matrix edge: the kernel runs on
// a full-size scratch tile holding a copy of the valid part of C, and only that
// part is copied back. Going through the same kernel keeps the arithmetic, and so
// the bits, of an edge element equal to what a full tile would give.
func (j *gemmJob) edgeTile(edge, ap, bp []float32, off, mv, nv, kq int, beta float32, load bool) {
	nr := j.kern.nr
	if load {
		for i := 0; i < mv; i++ {
			copy(edge[i*nr:i*nr+nv], j.c[off+i*j.ldc:off+i*j.ldc+nv])
		}
	}
	j.kern.fn(kq, ap, bp, edge, nr, j.alpha, beta, load)
	for i := 0; i < mv; i++ {
		copy(j.c[off+i*j.ldc:off+i*j.ldc+nv], edge[i*nr:i*nr+nv])
	}
}

// sgemvRows computes c[j] = alpha * dot(a[:k], b[j*ldb:][:k]) + beta*c[j].
func sgemvRows(n, k int, alpha float32, a, b []float32, ldb int, beta float32, c []float32) {
	x := a[:k]
	for j := 0; j < n; j++ {
		d := alpha * Sdot(x, b[j*ldb:j*ldb+k])
		if beta == 0 {
			c[j] = d
		} else {
			c[j] = d + beta*c[j]
		}
	}
}

// saxpyRows computes c = alpha * a B + beta c for a row vector a (k) and B
// (k x n, row stride ldb), in k order.
func saxpyRows(n, k int, alpha float32, a, b []float32, ldb int, beta float32, c []float32) {
	c = c[:n]
	scaleC(1, n, beta, c, n)
	for p, x := range a[:k] {
		if x != 0 {
			Saxpy(alpha*x, b[p*ldb:p*ldb+n], c)
		}
	}
}

// Compute is the cpu package as a value: it satisfies model.Compute (the
// model declares that interface; this package need not import it).
type Compute struct{}

// Sgemm is the package's Sgemm.
func (Compute) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// ParallelFor is the package's ParallelFor.
func (Compute) ParallelFor(n int, fn func(lo, hi int)) { ParallelFor(n, fn) }
