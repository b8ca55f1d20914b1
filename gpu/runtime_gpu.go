//go:build cuda || cudaemu

package gpu

// The backend-independent part of the device runtime. The driver underneath
// is either the CUDA driver API through gorgonia.org/cu (driver_cuda.go,
// build tag cuda) or a CPU emulator that runs the same CUDA C sources
// (emu_cudaemu.go, build tag cudaemu, for testing without a GPU). Each
// provides: openDriver, and on *gpuRuntime enter, sync, launchKernel,
// allocBytes, free, memInfo, htod, dtoh, dtodRaw and memset32Raw.

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"sync"
	"unsafe"
)

// devPtr is a device address.
type devPtr uint64

// deviceEnv picks the device ordinal (default 0).
const deviceEnv = "MEALAB_CUDA_DEVICE"

// kernelNames is every kernel in kernels.ptx that the backend launches.
var kernelNames = []string{
	"gemm_nn_128", "gemm_nt_128", "gemm_tn_128", "gemm_tt_128",
	"gemm_nn_64", "gemm_nt_64", "gemm_tn_64", "gemm_tt_64",
	"rmsnorm_fwd", "rmsnorm_bwd_dx", "rmsnorm_dgain_partial", "reduce_partials",
	"rope", "mix_fwd", "mix_bwd_in", "mix_dw_partial",
	"attn_softmax_fwd", "attn_softmax_bwd",
	"splitk_reduce",
	"embed_fwd", "embed_bwd", "swiglu_fwd", "swiglu_bwd", "add_inplace",
	"ce_fwd", "sum_to_double", "ce_bwd", "sumsq_partial", "sum_double", "adamw", "scale_inplace",
}

// tcKernelNames are the tensor-core GEMMs of kernels_sm80.ptx (compute
// capability 8.0+).
var tcKernelNames = []string{
	"gemm_tc_nn_128", "gemm_tc_nt_128", "gemm_tc_tn_128", "gemm_tc_tt_128",
	"gemm_tc_nn_64", "gemm_tc_nt_64", "gemm_tc_tn_64", "gemm_tc_tt_64",
}

// gemmEnv picks the matrix-product kernels: "tc3" (tensor cores, 3xTF32,
// about float32 accuracy; the default on compute capability 8.0+), "tc1"
// (tensor cores, plain TF32: faster, ~1e-3 relative error) or "simt"
// (CUDA cores, float32; the only choice before 8.0).
const gemmEnv = "MEALAB_CUDA_GEMM"

// gemmPasses reads gemmEnv: 3 for tc3, 1 for tc1, 0 for simt.
func gemmPasses() (int, error) {
	switch v := os.Getenv(gemmEnv); v {
	case "", "tc3":
		return 3, nil
	case "tc1":
		return 1, nil
	case "simt":
		return 0, nil
	default:
		return 0, fmt.Errorf("cuda: %s=%q; choose tc3 (default), tc1 or simt", gemmEnv, v)
	}
}

// gemmMode says which products run, for Describe.
func gemmMode(passes int) string {
	switch passes {
	case 3:
		return "tensor cores, 3xTF32"
	case 1:
		return "tensor cores, TF32"
	}
	return "CUDA cores, FP32"
}

// gpuRuntime is the process's hold on one device.
type gpuRuntime struct {
	info DeviceInfo
	drv  driverState
	// tc is the tensor-core GEMM's passes (3 or 1), 0 when the products run
	// on CUDA cores (compute capability below 8.0, or gemmEnv=simt).
	tc int
	ws dbuf // split-K workspace, grown on demand (all work is on one stream)

	// failed is the first failed call of the block of dependent device
	// work under way (between begin and end: a forward or backward pass).
	// Every later launch, copy or memset of the block returns it without
	// reaching the device, because each needs what the failed one should
	// have written. Outside a block calls are independent.
	failed  error
	inBlock bool
	// testFailAt, when above 0, makes that launch of a block fail
	// (tests); launches counts the launches of the block that reached the
	// driver.
	testFailAt int
	launches   int
}

// begin starts a block of dependent device work; end closes it.
func (r *gpuRuntime) begin() { r.failed, r.inBlock, r.launches = nil, true, 0 }
func (r *gpuRuntime) end()   { r.failed, r.inBlock = nil, false }

// fail records err as the block's failure.
func (r *gpuRuntime) fail(err error) error {
	if r.inBlock {
		r.failed = err
	}
	return err
}

// launch queues kernel name on grid (gx, gy, gz) of block threads, unless
// an earlier call of the block failed.
func (r *gpuRuntime) launch(name string, gx, gy, gz, block int, args ...uint64) error {
	if r.failed != nil {
		return r.failed
	}
	if r.inBlock {
		r.launches++
		if r.testFailAt > 0 && r.launches == r.testFailAt {
			return r.fail(fmt.Errorf("cuda: launching %s: injected failure (test)", name))
		}
	}
	if err := r.launchKernel(name, gx, gy, gz, block, args...); err != nil {
		return r.fail(err)
	}
	return nil
}

// dtod and memset32 queue a device copy and a memset, unless an earlier
// call of the block failed.
func (r *gpuRuntime) dtod(dst, src devPtr, bytes int64) error {
	if r.failed != nil {
		return r.failed
	}
	if err := r.dtodRaw(dst, src, bytes); err != nil {
		return r.fail(err)
	}
	return nil
}

func (r *gpuRuntime) memset32(p devPtr, n int) error {
	if r.failed != nil {
		return r.failed
	}
	if err := r.memset32Raw(p, n); err != nil {
		return r.fail(err)
	}
	return nil
}

// firstErr returns the first error of a block's calls. Inside a block
// (begin), the calls after a failed one did not reach the device.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// workspace returns scratch of at least n floats. Growing it waits for
// queued work, which may still read the old one.
func (r *gpuRuntime) workspace(n int) (devPtr, error) {
	if r.ws.n >= n {
		return r.ws.ptr, nil
	}
	if r.ws.ptr != 0 {
		if err := r.sync(); err != nil {
			return 0, err
		}
		if err := r.free(r.ws.ptr); err != nil {
			return 0, err
		}
		r.ws = dbuf{}
	}
	b, err := r.alloc(max(n, 1<<20), "split-K workspace")
	if err != nil {
		return 0, err
	}
	r.ws = b
	return b.ptr, nil
}

var (
	rtOnce sync.Once
	rtVal  *gpuRuntime
	rtErr  error
)

// getRuntime opens the device once per process.
func getRuntime() (*gpuRuntime, error) {
	rtOnce.Do(func() {
		ord := 0
		if s := os.Getenv(deviceEnv); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil || v < 0 {
				rtErr = fmt.Errorf("cuda: %s=%q is not a device number", deviceEnv, s)
				return
			}
			ord = v
		}
		r := &gpuRuntime{}
		if err := r.openDriver(ord); err != nil {
			rtErr = err
			return
		}
		rtVal = r
	})
	return rtVal, rtErr
}

// Kernel arguments travel as 8-byte slots: the driver reads each
// parameter's own size from the start of its slot (little-endian), so 4-byte
// ints and floats sit in the low bytes.

func pArg(p devPtr) uint64  { return uint64(p) }
func iArg(v int) uint64     { return uint64(uint32(int32(v))) }
func lArg(v int64) uint64   { return uint64(v) }
func fArg(v float32) uint64 { return uint64(math.Float32bits(v)) }
func dArg(v float64) uint64 { return math.Float64bits(v) }

// dbuf is a device buffer of n 4-byte elements (float32 or int32).
type dbuf struct {
	ptr devPtr
	n   int
}

// at is the address of element off.
func (b dbuf) at(off int) devPtr { return b.ptr + devPtr(4*off) }

func (r *gpuRuntime) alloc(n int, what string) (dbuf, error) {
	p, err := r.allocBytes(int64(n)*4, what)
	return dbuf{ptr: p, n: n}, err
}

// allocErr words a failed allocation.
func (r *gpuRuntime) allocErr(bytes int64, what string, err error) error {
	free, total, _ := r.memInfo()
	return fmt.Errorf("cuda: allocating %s (%.1f MiB) on %s: %w (%.1f of %.1f GiB free); use a smaller batch or context",
		what, float64(bytes)/(1<<20), r.info.Name, err, float64(free)/(1<<30), float64(total)/(1<<30))
}

// upload copies host elements to dst (which holds at least len(src)) and
// waits, so src may be reused at once.
func upload[T float32 | int32 | uint8](r *gpuRuntime, dst devPtr, src []T) error {
	if len(src) == 0 {
		return nil
	}
	var z T
	if err := r.htod(dst, unsafe.Pointer(&src[0]), int64(len(src))*int64(unsafe.Sizeof(z))); err != nil {
		return fmt.Errorf("cuda: copy to device: %w", err)
	}
	return r.sync()
}

// download copies len(dst) elements from src to the host and waits.
func download[T float32 | int32 | uint64](r *gpuRuntime, dst []T, src devPtr) error {
	if len(dst) == 0 {
		return nil
	}
	var z T
	if err := r.dtoh(unsafe.Pointer(&dst[0]), src, int64(len(dst))*int64(unsafe.Sizeof(z))); err != nil {
		return fmt.Errorf("cuda: copy to host: %w", err)
	}
	return r.sync()
}

// zero clears n 4-byte elements at p.
func (r *gpuRuntime) zero(p devPtr, n int) error {
	if n <= 0 {
		return nil
	}
	if err := r.memset32(p, n); err != nil {
		return fmt.Errorf("cuda: memset: %w", err)
	}
	return nil
}

// copyD copies n 4-byte elements from src to dst on the device.
func (r *gpuRuntime) copyD(dst, src devPtr, n int) error {
	if n <= 0 {
		return nil
	}
	if err := r.dtod(dst, src, int64(n)*4); err != nil {
		return fmt.Errorf("cuda: device copy: %w", err)
	}
	return nil
}

// checkGrid refuses grids the hardware cannot launch.
func checkGrid(name string, gx, gy, gz, block int) error {
	if gy > 65535 || gz > 65535 || block > 1024 {
		return fmt.Errorf("cuda: %s grid %dx%dx%d of %d threads exceeds the launch limits (y, z <= 65535, block <= 1024)", name, gx, gy, gz, block)
	}
	return nil
}
