//go:build cuda

package gpu

// The CUDA driver API through gorgonia.org/cu. cu's init() calls cuInit and
// exits the process when no driver or GPU is present, so a binary built with
// -tags cuda only starts on a machine with an NVIDIA GPU.
//
// A CUDA context is current on one OS thread at a time, while goroutines
// move between threads: every entry point pins its goroutine to its thread
// (runtime.LockOSThread) and makes the device's primary context current
// there for the duration of the call (enter). All work goes to one stream,
// in order; only the copies that bring results back synchronise with it.

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"unsafe"

	"gorgonia.org/cu"
)

// Built reports whether this binary was built with CUDA support.
const Built = true

// emulated is false: kernels run on a real GPU.
const emulated = false

// ErrNotBuilt is never returned by the CUDA build; it exists so that callers
// compile in both builds.
var ErrNotBuilt = errors.New("this mealab was built without CUDA; " + BuildHelp)

// Devices lists the CUDA devices the driver reports.
func Devices() ([]DeviceInfo, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return nil, fmt.Errorf("cuda: counting devices: %w", err)
	}
	out := make([]DeviceInfo, 0, n)
	for i := 0; i < n; i++ {
		d, err := cu.GetDevice(i)
		if err != nil {
			return out, fmt.Errorf("cuda: device %d: %w", i, err)
		}
		info := DeviceInfo{Index: i}
		if info.Name, err = d.Name(); err != nil {
			return out, fmt.Errorf("cuda: device %d name: %w", i, err)
		}
		if info.Major, err = d.Attribute(cu.ComputeCapabilityMajor); err != nil {
			return out, err
		}
		if info.Minor, err = d.Attribute(cu.ComputeCapabilityMinor); err != nil {
			return out, err
		}
		if info.SMs, err = d.Attribute(cu.MultiprocessorCount); err != nil {
			return out, err
		}
		if info.MemBytes, err = d.TotalMem(); err != nil {
			return out, err
		}
		out = append(out, info)
	}
	return out, nil
}

// Describe lists the devices of this CUDA build for `mealab doctor`.
func Describe() string {
	v := cu.Version()
	head := fmt.Sprintf("CUDA build, driver supports CUDA %d.%d", v/1000, (v%1000)/10)
	devs, err := Devices()
	if err != nil {
		return head + ", " + err.Error()
	}
	if len(devs) == 0 {
		return head + ", no devices"
	}
	parts := make([]string, len(devs))
	for i, d := range devs {
		parts[i] = fmt.Sprintf("GPU %d: %s (compute %d.%d, %.1f GiB, %d SMs)", d.Index, d.Name, d.Major, d.Minor,
			float64(d.MemBytes)/(1<<30), d.SMs)
	}
	sel := os.Getenv(deviceEnv)
	if sel == "" {
		sel = "0"
	}
	gemm := "tensor-core GEMMs (3xTF32) on compute 8.0+, CUDA-core FP32 before"
	if p, err := gemmPasses(); err != nil {
		gemm = err.Error()
	} else if p != 3 {
		gemm = gemmMode(p) + " GEMMs where available (" + gemmEnv + ")"
	}
	return head + "; " + strings.Join(parts, "; ") + "; uses GPU " + sel + " (set " + deviceEnv + " to choose); " + gemm
}

// driverState is the hold on one device: its primary context, the loaded
// PTX module and the stream all work goes to.
type driverState struct {
	dev    cu.Device
	ctx    cu.CUContext
	mod    cu.Module
	modTC  cu.Module // tensor-core kernels, compute capability 8.0+
	stream cu.Stream
	fn     map[string]cu.Function
}

// openDriver retains device ord's primary context, JIT-compiles the
// embedded PTX for it and makes a stream.
func (r *gpuRuntime) openDriver(ord int) error {
	devs, err := Devices()
	if err != nil {
		return err
	}
	if ord >= len(devs) {
		return fmt.Errorf("cuda: device %d requested (%s) but the driver reports %d device(s)", ord, deviceEnv, len(devs))
	}
	r.info = devs[ord]
	if r.info.Major < 7 {
		return fmt.Errorf("cuda: %s has compute capability %d.%d; mealab's kernels need 7.0 (Volta) or newer", r.info.Name, r.info.Major, r.info.Minor)
	}
	d := &r.drv
	d.fn = map[string]cu.Function{}
	if d.dev, err = cu.GetDevice(ord); err != nil {
		return fmt.Errorf("cuda: device %d: %w", ord, err)
	}
	if d.ctx, err = d.dev.RetainPrimaryCtx(); err != nil {
		return fmt.Errorf("cuda: primary context of device %d: %w", ord, err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err = cu.SetCurrentContext(d.ctx); err != nil {
		return fmt.Errorf("cuda: making the context current: %w", err)
	}
	if d.mod, err = cu.LoadData(ptxSource); err != nil {
		return fmt.Errorf("cuda: loading the embedded PTX (needs a driver for CUDA 11.8 or newer, i.e. 520+): %w", err)
	}
	for _, name := range kernelNames {
		f, err := d.mod.Function(name)
		if err != nil {
			return fmt.Errorf("cuda: kernel %s missing from kernels.ptx (regenerate with go generate ./gpu): %w", name, err)
		}
		d.fn[name] = f
	}
	passes, err := gemmPasses()
	if err != nil {
		return err
	}
	if passes > 0 && r.info.Major >= 8 {
		if d.modTC, err = cu.LoadData(ptxSM80Source); err != nil {
			return fmt.Errorf("cuda: loading the embedded tensor-core PTX (set %s=simt to do without): %w", gemmEnv, err)
		}
		for _, name := range tcKernelNames {
			f, err := d.modTC.Function(name)
			if err != nil {
				return fmt.Errorf("cuda: kernel %s missing from kernels_sm80.ptx (regenerate with go generate ./gpu): %w", name, err)
			}
			d.fn[name] = f
		}
		r.tc = passes
	}
	if d.stream, err = cu.MakeStream(cu.NonBlocking); err != nil {
		return fmt.Errorf("cuda: creating a stream: %w", err)
	}
	return nil
}

// enter pins the calling goroutine to its OS thread and makes the context
// current there; the returned function undoes the pinning.
func (r *gpuRuntime) enter() (func(), error) {
	runtime.LockOSThread()
	if err := cu.SetCurrentContext(r.drv.ctx); err != nil {
		runtime.UnlockOSThread()
		return func() {}, fmt.Errorf("cuda: making the context current: %w", err)
	}
	return runtime.UnlockOSThread, nil
}

// sync waits for all work queued on the stream and reports any error a
// kernel raised asynchronously.
func (r *gpuRuntime) sync() error {
	if err := r.drv.stream.Synchronize(); err != nil {
		return fmt.Errorf("cuda: kernel failed: %w", err)
	}
	return nil
}

// launchKernel queues kernel name on grid (gx, gy, gz) of block threads. cu
// copies 8 bytes from each argument pointer into C memory.
func (r *gpuRuntime) launchKernel(name string, gx, gy, gz, block int, args ...uint64) error {
	f, ok := r.drv.fn[name]
	if !ok {
		return fmt.Errorf("cuda: no kernel %s", name)
	}
	if gx <= 0 || gy <= 0 || gz <= 0 {
		return nil // empty problem
	}
	if err := checkGrid(name, gx, gy, gz, block); err != nil {
		return err
	}
	ptrs := make([]unsafe.Pointer, len(args))
	for i := range args {
		ptrs[i] = unsafe.Pointer(&args[i])
	}
	if err := f.Launch(gx, gy, gz, block, 1, 1, 0, r.drv.stream, ptrs); err != nil {
		return fmt.Errorf("cuda: launching %s: %w", name, err)
	}
	return nil
}

func (r *gpuRuntime) allocBytes(bytes int64, what string) (devPtr, error) {
	if bytes <= 0 {
		bytes = 4
	}
	p, err := cu.MemAlloc(bytes)
	if err != nil {
		return 0, r.allocErr(bytes, what, err)
	}
	return devPtr(p), nil
}

func (r *gpuRuntime) free(p devPtr) error {
	if p == 0 {
		return nil
	}
	return cu.MemFree(cu.DevicePtr(p))
}

func (r *gpuRuntime) memInfo() (free, total int64, err error) { return cu.MemInfo() }

// htod copies from pageable host memory; the driver has staged the data
// when the call returns.
func (r *gpuRuntime) htod(dst devPtr, src unsafe.Pointer, bytes int64) error {
	return cu.MemcpyHtoDAsync(cu.DevicePtr(dst), src, bytes, r.drv.stream)
}

func (r *gpuRuntime) dtoh(dst unsafe.Pointer, src devPtr, bytes int64) error {
	return cu.MemcpyDtoHAsync(dst, cu.DevicePtr(src), bytes, r.drv.stream)
}

func (r *gpuRuntime) dtodRaw(dst, src devPtr, bytes int64) error {
	return cu.MemcpyDtoDAsync(cu.DevicePtr(dst), cu.DevicePtr(src), bytes, r.drv.stream)
}

func (r *gpuRuntime) memset32Raw(p devPtr, n int) error {
	return cu.MemsetD32Async(cu.DevicePtr(p), 0, int64(n), r.drv.stream)
}
