package sessions

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Checkpoint metadata keys and values written by SaveCheckpoint.
const (
	CheckpointFormat  = "mealab.checkpoint"
	CheckpointVersion = 1

	metaFormat        = "format"
	metaFormatVersion = "format_version"
	metaStep          = "mealab.step"
)

// ErrNoCheckpoint is wrapped by LoadLatestCheckpoint when a run has no
// checkpoints, so callers can start training from scratch.
var ErrNoCheckpoint = errors.New("no checkpoint")

var ckptName = regexp.MustCompile(`^step-([0-9]{1,19})\.safetensors$`)

// CheckpointInfo describes one checkpoint file.
type CheckpointInfo struct {
	Step    int64
	Path    string
	Bytes   int64
	ModTime time.Time
}

// CheckpointFileName returns the file name used for a step's checkpoint.
func CheckpointFileName(step int64) string {
	return fmt.Sprintf("step-%08d.safetensors", step)
}

// SaveCheckpoint writes tensors and meta as ckpt/step-NNNNNNNN.safetensors,
// atomically, then deletes older checkpoints so that the one just written
// and the keep-1 newest others remain. keep <= 0 keeps every checkpoint.
// meta may not use the keys "format", "format_version" or any key starting
// with "mealab."; SaveCheckpoint sets those itself.
func (r *Run) SaveCheckpoint(step int64, tensors []Tensor, meta map[string]string, keep int) (string, error) {
	if step < 0 {
		return "", fmt.Errorf("save checkpoint: step %d is negative", step)
	}
	full := make(map[string]string, len(meta)+3)
	for k, v := range meta {
		if k == metaFormat || k == metaFormatVersion || strings.HasPrefix(k, "mealab.") {
			return "", fmt.Errorf("save checkpoint: metadata key %q is reserved; rename it", k)
		}
		full[k] = v
	}
	full[metaFormat] = CheckpointFormat
	full[metaFormatVersion] = strconv.Itoa(CheckpointVersion)
	full[metaStep] = strconv.FormatInt(step, 10)

	dir := filepath.Join(r.dir, ckptDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("save checkpoint: %w", err)
	}
	// Validate before creating any file so a bad tensor leaves no trace.
	if err := validateTensors(tensors, full); err != nil {
		return "", fmt.Errorf("save checkpoint for step %d: %w", step, err)
	}
	path := filepath.Join(dir, CheckpointFileName(step))
	err := writeAtomic(path, 0o644, func(w io.Writer) error {
		return WriteSafetensors(w, tensors, full)
	})
	if err != nil {
		return "", fmt.Errorf("save checkpoint for step %d: %w", step, err)
	}
	if err := r.prune(step, keep); err != nil {
		return path, fmt.Errorf("checkpoint for step %d saved, but: %w", step, err)
	}
	return path, nil
}

// prune deletes checkpoints beyond keep and temporary files left by
// interrupted saves.
func (r *Run) prune(justWritten int64, keep int) error {
	dir := filepath.Join(r.dir, ckptDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("prune checkpoints: %w", err)
	}
	var errs []error
	for _, e := range entries {
		if isTempName(e.Name()) && !inProgress(filepath.Join(dir, e.Name())) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	if keep > 0 {
		list, err := r.Checkpoints()
		if err != nil {
			return err
		}
		kept := 1 // The one just written.
		for i := len(list) - 1; i >= 0; i-- {
			c := list[i]
			if c.Step == justWritten {
				continue
			}
			if kept < keep {
				kept++
				continue
			}
			if err := os.Remove(c.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("delete old checkpoint: %w", err))
			}
		}
	}
	if len(errs) == 0 {
		if err := syncDir(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Checkpoints lists the run's checkpoints by ascending step. Files that do
// not follow the naming scheme are ignored.
func (r *Run) Checkpoints() ([]CheckpointInfo, error) {
	dir := filepath.Join(r.dir, ckptDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("list checkpoints of run %q: %w", r.name, err)
	}
	var out []CheckpointInfo
	for _, e := range entries {
		m := ckptName.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		step, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // Deleted while listing.
		}
		out = append(out, CheckpointInfo{Step: step, Path: filepath.Join(dir, e.Name()), Bytes: fi.Size(), ModTime: fi.ModTime()})
	}
	// Two names can parse to the same step ("step-1" and "step-00000001");
	// order them stably by name so results are deterministic.
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Step != out[j].Step {
			return out[i].Step < out[j].Step
		}
		return out[i].Path < out[j].Path
	})
	return out, nil
}

// LoadCheckpoint reads and verifies the checkpoint at path.
func LoadCheckpoint(path string) ([]Tensor, map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load checkpoint %s: %w", path, err)
	}
	tensors, meta, err := DecodeSafetensors(b)
	if errors.Is(err, ErrChecksum) {
		return nil, nil, fmt.Errorf("checkpoint %s is corrupt (%w)", path, ErrChecksum)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint %s is corrupt: %w", path, err)
	}
	if f, ok := meta[metaFormat]; ok && f != CheckpointFormat {
		return nil, nil, fmt.Errorf("checkpoint %s has format %q, not %q; it was not written by mealab", path, f, CheckpointFormat)
	}
	if v, ok := meta[metaFormatVersion]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return nil, nil, fmt.Errorf("checkpoint %s is corrupt: format_version %q is not a positive number", path, v)
		}
		if n > CheckpointVersion {
			return nil, nil, &NewerVersionError{What: "checkpoint " + path, Version: n}
		}
	}
	return tensors, meta, nil
}

// LoadLatestCheckpoint loads the newest checkpoint that verifies. A corrupt
// newer checkpoint is skipped with a warning, so a crash or disk error
// while saving costs only the steps since the previous checkpoint. A
// checkpoint from a newer mealab is not skipped: that is an error, since
// falling back would silently discard progress. With no checkpoints at all
// the error wraps ErrNoCheckpoint.
func (r *Run) LoadLatestCheckpoint() (step int64, tensors []Tensor, meta map[string]string, warnings []string, err error) {
	list, err := r.Checkpoints()
	if err != nil {
		return 0, nil, nil, nil, err
	}
	if len(list) == 0 {
		return 0, nil, nil, nil, fmt.Errorf("run %q: %w yet; training starts from scratch", r.name, ErrNoCheckpoint)
	}
	var failures []string
	for i := len(list) - 1; i >= 0; i-- {
		c := list[i]
		tensors, meta, err := LoadCheckpoint(c.Path)
		if err == nil {
			if s, ok := meta[metaStep]; ok && s != strconv.FormatInt(c.Step, 10) {
				err = fmt.Errorf("checkpoint %s is corrupt: it records step %s but its name says step %d", c.Path, s, c.Step)
			}
		}
		if err != nil {
			var nv *NewerVersionError
			if errors.As(err, &nv) {
				return 0, nil, nil, warnings, err
			}
			failures = append(failures, err.Error())
			if i > 0 {
				warnings = append(warnings, fmt.Sprintf("%v; an older checkpoint will be used", err))
			}
			continue
		}
		return c.Step, tensors, meta, warnings, nil
	}
	return 0, nil, nil, warnings, fmt.Errorf("run %q: every checkpoint is unreadable (%s); training would start from scratch, so move the ckpt directory aside to confirm", r.name, strings.Join(failures, "; "))
}
