package sessions

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func ckptTensors(step int64) []Tensor {
	return []Tensor{
		F32Tensor("w", []int{2}, []float32{float32(step), 1}),
		I64Tensor("step", nil, []int64{step}),
	}
}

func steps(t *testing.T, r *Run) []int64 {
	t.Helper()
	list, err := r.Checkpoints()
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for _, c := range list {
		out = append(out, c.Step)
	}
	return out
}

func TestCheckpointKeepLastK(t *testing.T) {
	r := newTestRun(t)
	if _, _, _, _, err := r.LoadLatestCheckpoint(); !errors.Is(err, ErrNoCheckpoint) {
		t.Fatalf("no checkpoints: %v", err)
	}
	for _, s := range []int64{100, 200, 300, 400} {
		p, err := r.SaveCheckpoint(s, ckptTensors(s), map[string]string{"lr": "0.1"}, 2)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(p) != CheckpointFileName(s) {
			t.Errorf("path %s", p)
		}
	}
	if got := steps(t, r); !reflect.DeepEqual(got, []int64{300, 400}) {
		t.Errorf("kept %v, want [300 400]", got)
	}
	if CheckpointFileName(123) != "step-00000123.safetensors" {
		t.Errorf("file name %s", CheckpointFileName(123))
	}

	// An out-of-order save (after a rollback) is never pruned itself.
	if _, err := r.SaveCheckpoint(350, ckptTensors(350), nil, 2); err != nil {
		t.Fatal(err)
	}
	if got := steps(t, r); !reflect.DeepEqual(got, []int64{350, 400}) {
		t.Errorf("after rollback save kept %v, want [350 400]", got)
	}

	// keep <= 0 keeps everything.
	for _, s := range []int64{500, 600, 700} {
		if _, err := r.SaveCheckpoint(s, ckptTensors(s), nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	if got := steps(t, r); len(got) != 5 {
		t.Errorf("keep=0 kept %v", got)
	}

	step, tensors, meta, warnings, err := r.LoadLatestCheckpoint()
	if err != nil || step != 700 || len(warnings) != 0 {
		t.Fatalf("latest: %d, %v, %v", step, warnings, err)
	}
	if v, _ := tensors[1].Int64s(); v[0] != 700 {
		t.Errorf("tensor step %v", v)
	}
	if meta["format"] != CheckpointFormat || meta["format_version"] != "1" || meta["mealab.step"] != "700" {
		t.Errorf("meta %v", meta)
	}
}

func TestCheckpointRejectsReservedMeta(t *testing.T) {
	r := newTestRun(t)
	for _, k := range []string{"format", "format_version", "mealab.x"} {
		if _, err := r.SaveCheckpoint(1, ckptTensors(1), map[string]string{k: "v"}, 1); err == nil {
			t.Errorf("reserved key %q accepted", k)
		}
	}
	if _, err := r.SaveCheckpoint(-1, ckptTensors(1), nil, 1); err == nil {
		t.Error("negative step accepted")
	}
	if _, err := r.SaveCheckpoint(1, []Tensor{{Name: "x", DType: "F32", Data: []byte{1}}}, nil, 1); err == nil {
		t.Error("invalid tensor accepted")
	}
	if got := steps(t, r); len(got) != 0 {
		t.Errorf("failed saves left checkpoints %v", got)
	}
}

func TestLoadLatestCheckpointFallsBack(t *testing.T) {
	r := newTestRun(t)
	var paths []string
	for _, s := range []int64{10, 20, 30} {
		p, err := r.SaveCheckpoint(s, ckptTensors(s), nil, 5)
		if err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	// Newest: one flipped data bit. Second newest: truncated.
	b, _ := os.ReadFile(paths[2])
	b[len(b)-3] ^= 0x10
	os.WriteFile(paths[2], b, 0o644)
	b, _ = os.ReadFile(paths[1])
	os.WriteFile(paths[1], b[:len(b)/2], 0o644)

	step, tensors, _, warnings, err := r.LoadLatestCheckpoint()
	if err != nil {
		t.Fatal(err)
	}
	if step != 10 {
		t.Errorf("loaded step %d, want 10", step)
	}
	if v, _ := tensors[0].Float32s(); v[0] != 10 {
		t.Errorf("tensor %v", v)
	}
	if len(warnings) != 2 {
		t.Fatalf("warnings %q", warnings)
	}
	if !strings.Contains(warnings[0], "step-00000030.safetensors is corrupt") || !strings.Contains(warnings[0], "checksum mismatch") || !strings.Contains(warnings[0], "an older checkpoint will be used") {
		t.Errorf("warning %q", warnings[0])
	}

	// With every checkpoint corrupt the error names each one.
	b, _ = os.ReadFile(paths[0])
	os.WriteFile(paths[0], b[:10], 0o644)
	_, _, _, _, err = r.LoadLatestCheckpoint()
	if err == nil || errors.Is(err, ErrNoCheckpoint) || !strings.Contains(err.Error(), "step-00000010") {
		t.Errorf("all corrupt: %v", err)
	}
}

func TestLoadLatestCheckpointNewerVersion(t *testing.T) {
	r := newTestRun(t)
	if _, err := r.SaveCheckpoint(1, ckptTensors(1), nil, 5); err != nil {
		t.Fatal(err)
	}
	// Write a "future" checkpoint by hand; it must not be skipped silently.
	b, err := EncodeSafetensors(ckptTensors(2), map[string]string{"format": CheckpointFormat, "format_version": "2"})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(r.Dir(), "ckpt", CheckpointFileName(2)), b, 0o644)
	_, _, _, _, err = r.LoadLatestCheckpoint()
	if err == nil || !strings.Contains(err.Error(), "written by a newer mealab (format v2); upgrade mealab to read it") {
		t.Errorf("got %v", err)
	}
}

func TestCheckpointPrunesTempFiles(t *testing.T) {
	r := newTestRun(t)
	if _, err := r.SaveCheckpoint(1, ckptTensors(1), nil, 3); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(r.Dir(), "ckpt", ".step-00000002.safetensors.tmp-999")
	os.WriteFile(stale, []byte("partial"), 0o644)
	os.WriteFile(filepath.Join(r.Dir(), "ckpt", "notes.txt"), []byte("mine"), 0o644)
	if _, err := r.SaveCheckpoint(3, ckptTensors(3), nil, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("stale temporary file survived")
	}
	if got := steps(t, r); !reflect.DeepEqual(got, []int64{1, 3}) {
		t.Errorf("checkpoints %v", got)
	}
}

// TestCheckpointPruneSparesSaveInProgress: a save that prunes leftovers
// must not delete the temporary file of another save of the same run still
// under way in this process (a periodic checkpoint and the save at
// shutdown), whose rename would then fail.
func TestCheckpointPruneSparesSaveInProgress(t *testing.T) {
	r := newTestRun(t)
	if _, err := r.SaveCheckpoint(1, ckptTensors(1), nil, 3); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(r.Dir(), "ckpt", CheckpointFileName(2))
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- writeAtomic(path, 0o644, func(w io.Writer) error {
			close(started)
			<-release
			return WriteSafetensors(w, ckptTensors(2), nil)
		})
	}()
	<-started
	if _, err := r.SaveCheckpoint(3, ckptTensors(3), nil, 3); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the save under way failed after another save pruned: %v", err)
	}
	if got := steps(t, r); !reflect.DeepEqual(got, []int64{1, 2, 3}) {
		t.Errorf("checkpoints %v", got)
	}
	// Leftovers of saves that ended are still pruned.
	stale := filepath.Join(r.Dir(), "ckpt", ".step-00000004.safetensors.tmp-999")
	if err := os.WriteFile(stale, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SaveCheckpoint(5, ckptTensors(5), nil, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("stale temporary file survived")
	}
}
