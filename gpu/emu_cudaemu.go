//go:build cudaemu && !cuda

package gpu

// The CPU emulator backend (build tag cudaemu): the same kernels/*.cu
// sources compiled as C++ by cgo (emu_cudaemu.cc) and run block by block with
// fibers standing in for GPU threads. "Device" memory is host memory. It
// exists so the conformance tests can exercise every kernel and the whole
// host orchestration on machines without a GPU:
//
//	go test -tags cudaemu ./gpu/
//
// It proves indexing, barriers and the order of operations; it says nothing
// about speed, real parallel races or the CUDA driver API.

// #cgo CXXFLAGS: -O2 -std=c++17 -fno-strict-aliasing -Wno-unknown-pragmas -Wno-narrowing
// #include <stdint.h>
// #include <stdlib.h>
// #include <string.h>
// int emu_nargs(const char* name);
// int emu_launch(const char* name, int gx, int gy, int gz, int block, const uint64_t* args, int nargs);
// const char* emu_last_error(void);
// uint64_t emu_malloc(size_t n);
// void emu_free(uint64_t p);
// void emu_copy_in(uint64_t dst, const void* src, size_t n);
// void emu_copy_out(void* dst, uint64_t src, size_t n);
// void emu_move(uint64_t dst, uint64_t src, size_t n);
// void emu_zero(uint64_t dst, size_t n);
import "C"

import (
	"embed"
	"errors"
	"fmt"
	"os"
	"sync"
	"unsafe"
)

// The kernel sources are embedded only so that the build cache notices
// when they change (cgo does not track the files emu_cudaemu.cc includes).
//
//go:embed kernels/*.cu kernels/*.cuh
var emuKernelSources embed.FS

// Built reports whether this binary was built with CUDA support: this is the
// emulator build, which runs the CUDA kernels on the CPU.
const Built = true

// emulated is true: kernels run on the CPU emulator.
const emulated = true

// ErrNotBuilt is never returned by this build.
var ErrNotBuilt = errors.New("this mealab was built without CUDA; " + BuildHelp)

// emuInfo is the emulated device.
var emuInfo = DeviceInfo{Index: 0, Name: "mealab CUDA emulator (CPU)", Major: 8, Minor: 0, MemBytes: 4 << 30, SMs: 4}

// Devices lists the one emulated device.
func Devices() ([]DeviceInfo, error) { return []DeviceInfo{emuInfo}, nil }

// Describe says this is the emulator build.
func Describe() string {
	return "CUDA emulator build (kernels run on the CPU, for testing only); " + BuildHelp
}

type driverState struct {
	mu     sync.Mutex
	allocs map[devPtr]int64
	used   int64
}

func (r *gpuRuntime) openDriver(ord int) error {
	if ord != 0 {
		return fmt.Errorf("cuda: device %d requested (%s) but the emulator has 1 device", ord, deviceEnv)
	}
	_ = emuKernelSources
	r.info = emuInfo
	r.drv.allocs = map[devPtr]int64{}
	// The emulated mma is slow: the emulator defaults to the CUDA-core
	// GEMMs unless MEALAB_CUDA_GEMM asks for tensor cores; the tests force
	// each kind where they compare them.
	if os.Getenv(gemmEnv) != "" {
		passes, err := gemmPasses()
		if err != nil {
			return err
		}
		r.tc = passes
	}
	for _, name := range append(append([]string(nil), kernelNames...), tcKernelNames...) {
		cs := C.CString(name)
		n := C.emu_nargs(cs)
		C.free(unsafe.Pointer(cs))
		if n < 0 {
			return fmt.Errorf("cuda: kernel %s missing from the emulator", name)
		}
	}
	return nil
}

// enter has nothing to pin: the emulator has no thread-bound context.
// Launches and allocations serialise on a mutex instead (the emulator's C
// state is global).
func (r *gpuRuntime) enter() (func(), error) { return func() {}, nil }

func (r *gpuRuntime) sync() error { return nil }

func (r *gpuRuntime) launchKernel(name string, gx, gy, gz, block int, args ...uint64) error {
	if gx <= 0 || gy <= 0 || gz <= 0 {
		return nil
	}
	if err := checkGrid(name, gx, gy, gz, block); err != nil {
		return err
	}
	r.drv.mu.Lock()
	defer r.drv.mu.Unlock()
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	var ap *C.uint64_t
	if len(args) > 0 {
		ap = (*C.uint64_t)(unsafe.Pointer(&args[0]))
	}
	if C.emu_launch(cs, C.int(gx), C.int(gy), C.int(gz), C.int(block), ap, C.int(len(args))) != 0 {
		return fmt.Errorf("cuda emulator: %s", C.GoString(C.emu_last_error()))
	}
	return nil
}

func (r *gpuRuntime) allocBytes(bytes int64, what string) (devPtr, error) {
	if bytes <= 0 {
		bytes = 4
	}
	r.drv.mu.Lock()
	defer r.drv.mu.Unlock()
	if r.drv.used+bytes > r.info.MemBytes {
		return 0, r.allocErr(bytes, what, errors.New("out of emulated memory"))
	}
	d := devPtr(C.emu_malloc(C.size_t(bytes)))
	if d == 0 {
		return 0, r.allocErr(bytes, what, errors.New("malloc failed"))
	}
	r.drv.allocs[d] = bytes
	r.drv.used += bytes
	return d, nil
}

func (r *gpuRuntime) free(p devPtr) error {
	if p == 0 {
		return nil
	}
	r.drv.mu.Lock()
	defer r.drv.mu.Unlock()
	n, ok := r.drv.allocs[p]
	if !ok {
		return fmt.Errorf("cuda emulator: free of unknown pointer %#x", uint64(p))
	}
	delete(r.drv.allocs, p)
	r.drv.used -= n
	C.emu_free(C.uint64_t(p))
	return nil
}

func (r *gpuRuntime) memInfo() (free, total int64, err error) {
	r.drv.mu.Lock()
	defer r.drv.mu.Unlock()
	return r.info.MemBytes - r.drv.used, r.info.MemBytes, nil
}

func (r *gpuRuntime) htod(dst devPtr, src unsafe.Pointer, bytes int64) error {
	C.emu_copy_in(C.uint64_t(dst), src, C.size_t(bytes))
	return nil
}

func (r *gpuRuntime) dtoh(dst unsafe.Pointer, src devPtr, bytes int64) error {
	C.emu_copy_out(dst, C.uint64_t(src), C.size_t(bytes))
	return nil
}

func (r *gpuRuntime) dtodRaw(dst, src devPtr, bytes int64) error {
	C.emu_move(C.uint64_t(dst), C.uint64_t(src), C.size_t(bytes))
	return nil
}

func (r *gpuRuntime) memset32Raw(p devPtr, n int) error {
	C.emu_zero(C.uint64_t(p), C.size_t(4*n))
	return nil
}
