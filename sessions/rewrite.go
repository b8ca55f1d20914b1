package sessions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// RewriteLogs replaces each of the run's JSON-lines files (metrics, events,
// samples) with the lines edit returns for it, atomically, header first.
// edit gets the file's format (FormatMetrics, ...) and its readable lines
// in order (damaged ones are dropped). A file edit leaves unchanged is not
// rewritten. It must be called before anything is appended to the run in
// this process: a resumed run uses it to drop what it will report again.
func (r *Run) RewriteLogs(edit func(format string, lines []json.RawMessage) []json.RawMessage) error {
	r.mu.Lock()
	open := len(r.writers) > 0
	r.mu.Unlock()
	if open {
		return fmt.Errorf("rewrite run %q: its logs are open for appending", r.name)
	}
	for _, f := range []struct{ file, format string }{{metricsFile, FormatMetrics}, {eventsFile, FormatEvents}, {samplesFile, FormatSamples}} {
		var lines []json.RawMessage
		rep, err := r.read(f.file, f.format, func(raw json.RawMessage) error {
			lines = append(lines, raw)
			return nil
		})
		if err != nil {
			return err
		}
		path := filepath.Join(r.dir, f.file)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		kept := edit(f.format, lines)
		if len(rep.Warnings) == 0 && sameLines(kept, lines) {
			continue
		}
		err = writeAtomic(path, 0o644, func(w io.Writer) error {
			h, _ := json.Marshal(fileHeader{Format: f.format, Version: JSONLVersion})
			var b bytes.Buffer
			b.Write(h)
			b.WriteByte('\n')
			for _, l := range kept {
				b.Write(bytes.TrimSpace(l))
				b.WriteByte('\n')
			}
			_, err := w.Write(b.Bytes())
			return err
		})
		if err != nil {
			return fmt.Errorf("rewrite run %q: %w", r.name, err)
		}
	}
	return nil
}

func sameLines(a, b []json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
