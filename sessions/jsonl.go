package sessions

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Format names written in the header line of each JSON-lines file.
const (
	FormatMetrics = "mealab.metrics"
	FormatEvents  = "mealab.events"
	FormatSamples = "mealab.samples"
)

// JSONLVersion is the version written in JSON-lines headers and the newest
// one this package reads.
const JSONLVersion = 1

// MaxLineBytes bounds one JSON line. Longer lines are skipped with a warning
// instead of being held in memory.
const MaxLineBytes = 16 << 20

// maxWarnings bounds ReadReport.Warnings so that a thoroughly garbled file
// does not produce a warning per line.
const maxWarnings = 20

// FlushInterval is the longest a line may wait in memory in buffered mode
// before it is handed to the operating system.
const FlushInterval = 2 * time.Second

// ReadReport describes what a JSON-lines reader saw.
type ReadReport struct {
	Lines    int      // Data lines passed to the callback, not counting the header.
	Skipped  int      // Lines that were not valid JSON and were skipped.
	Warnings []string // Human-readable notes, at most about 20.
}

func (r *ReadReport) warn(format string, args ...any) {
	if len(r.Warnings) < maxWarnings {
		r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
	} else if len(r.Warnings) == maxWarnings {
		r.Warnings = append(r.Warnings, "further warnings suppressed")
	}
}

// fileHeader is the first line of every JSON-lines file.
type fileHeader struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
}

// NewerVersionError reports a file written by a newer mealab.
type NewerVersionError struct {
	What    string // What was being read, for example a file path.
	Version int    // The version found.
}

func (e *NewerVersionError) Error() string {
	return fmt.Sprintf("%s was written by a newer mealab (format v%d); upgrade mealab to read it", e.What, e.Version)
}

// ReadJSONL reads a mealab JSON-lines file whose header names format and
// calls fn with each data line. It is tolerant of damage: a torn last line
// (a writer killed mid-write) or garbage in the middle is skipped and
// counted in the report, never fatal. It fails only on a read error, a
// header for a different format, a header from a newer mealab, or an error
// returned by fn, which stops the read.
//
// The raw message passed to fn is fn's to keep.
func ReadJSONL(r io.Reader, format string, fn func(raw json.RawMessage) error) (ReadReport, error) {
	var rep ReadReport
	br := bufio.NewReaderSize(r, 64<<10)
	lineNo := 0
	sawHeader := false
	for {
		line, complete, tooLong, err := readLine(br)
		if err != nil {
			return rep, fmt.Errorf("read %s: %w", format, err)
		}
		if line == nil && !tooLong {
			return rep, nil
		}
		lineNo++
		if tooLong {
			rep.Skipped++
			rep.warn("line %d is longer than %d bytes; skipped", lineNo, MaxLineBytes)
			continue
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if !json.Valid(line) {
			rep.Skipped++
			if !complete {
				rep.warn("line %d, the last line, is incomplete (the writer was probably interrupted); skipped", lineNo)
			} else {
				rep.warn("line %d is not valid JSON; skipped", lineNo)
			}
			continue
		}
		if !sawHeader {
			sawHeader = true
			if h, ok := parseHeader(line); ok {
				if h.Format != format {
					return rep, fmt.Errorf("read %s: the file holds %q, not %q; check that you opened the right file", format, h.Format, format)
				}
				if h.Version > JSONLVersion {
					return rep, &NewerVersionError{What: "this " + format + " file", Version: h.Version}
				}
				if h.Version < 1 {
					return rep, fmt.Errorf("read %s: header has invalid version %d; the file is corrupt", format, h.Version)
				}
				continue
			}
			rep.warn("line %d: no %s header; reading the file as version %d", lineNo, format, JSONLVersion)
		}
		rep.Lines++
		if err := fn(json.RawMessage(line)); err != nil {
			return rep, fmt.Errorf("read %s line %d: %w", format, lineNo, err)
		}
	}
}

// parseHeader recognises a header line: an object with a string "format"
// and a numeric "version" and nothing else of note.
func parseHeader(line []byte) (fileHeader, bool) {
	if len(line) == 0 || line[0] != '{' {
		return fileHeader{}, false
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(line, &probe); err != nil {
		return fileHeader{}, false
	}
	if _, ok := probe["format"]; !ok {
		return fileHeader{}, false
	}
	var h fileHeader
	if err := json.Unmarshal(line, &h); err != nil {
		// A "format" key with the wrong types: not a header we can trust,
		// but also not a version we can compare. Treat it as a header of
		// an invalid version so the reader reports it.
		return fileHeader{Format: h.Format, Version: 0}, h.Format != ""
	}
	return h, h.Format != ""
}

// readLine returns the next line without its newline. complete is false when
// the line ended at EOF without a newline. A line over MaxLineBytes is
// consumed and reported as tooLong with a nil line. At EOF it returns a nil
// line.
func readLine(br *bufio.Reader) (line []byte, complete, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > MaxLineBytes+1 {
				tooLong = true
				buf = nil
			} else {
				buf = append(buf, chunk...)
			}
		}
		switch {
		case err == nil:
			if tooLong {
				return nil, true, true, nil
			}
			return buf[:len(buf)-1], true, false, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if tooLong {
				return nil, false, true, nil
			}
			if len(buf) == 0 {
				return nil, false, false, nil
			}
			return buf, false, false, nil
		default:
			return nil, false, false, err
		}
	}
}

// jsonlWriter appends JSON lines to one file. Each line reaches the file in
// a single write on an O_APPEND descriptor, so a crash tears at most the
// last line and concurrent readers never see interleaved halves.
type jsonlWriter struct {
	mu       sync.Mutex
	path     string
	format   string
	f        *os.File
	buffered bool
	pending  []byte
	timer    *time.Timer
	err      error // Sticky error from a background flush.
}

// openJSONL opens path for appending, writing the header if the file is new
// and refusing files from a newer mealab. If the previous writer was killed
// mid-line, a newline is added first so the torn line stays isolated and
// the next line is intact.
func openJSONL(path, format string) (*jsonlWriter, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w := &jsonlWriter{path: path, format: format, f: f}
	if err := w.prepare(); err != nil {
		_ = f.Close()
		return nil, err
	}
	return w, nil
}

func (w *jsonlWriter) prepare() error {
	st, err := w.f.Stat()
	if err != nil {
		return fmt.Errorf("open %s: %w", w.path, err)
	}
	if st.Size() == 0 {
		h, _ := json.Marshal(fileHeader{Format: w.format, Version: JSONLVersion})
		if _, err := w.f.Write(append(h, '\n')); err != nil {
			return fmt.Errorf("write header to %s: %w", w.path, err)
		}
		return nil
	}
	// Check the existing header so we never append version-1 lines to a
	// file a newer mealab owns.
	first, _, _, err := readLine(bufio.NewReader(io.NewSectionReader(w.f, 0, min(st.Size(), 4096))))
	if err != nil {
		return fmt.Errorf("open %s: read header: %w", w.path, err)
	}
	if h, ok := parseHeader(bytes.TrimSpace(first)); ok {
		if h.Format != w.format {
			return fmt.Errorf("open %s: the file holds %q, not %q; move it aside", w.path, h.Format, w.format)
		}
		if h.Version > JSONLVersion {
			return &NewerVersionError{What: w.path, Version: h.Version}
		}
	}
	var last [1]byte
	if _, err := w.f.ReadAt(last[:], st.Size()-1); err != nil {
		return fmt.Errorf("open %s: %w", w.path, err)
	}
	if last[0] != '\n' {
		if _, err := w.f.Write([]byte{'\n'}); err != nil {
			return fmt.Errorf("open %s: terminate torn line: %w", w.path, err)
		}
	}
	return nil
}

// append encodes v as one line.
func (w *jsonlWriter) append(v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("append to %s: encode: %w", w.path, err)
	}
	// json.Marshal never emits raw newlines, but a json.RawMessage from the
	// caller could contain them and would then split into broken lines.
	if bytes.ContainsAny(line, "\r\n") {
		var c bytes.Buffer
		if err := json.Compact(&c, line); err != nil {
			return fmt.Errorf("append to %s: encode: %w", w.path, err)
		}
		line = c.Bytes()
	}
	line = append(line, '\n')

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return fmt.Errorf("append to %s: the run is closed; open it again with OpenRun", w.path)
	}
	if w.err != nil {
		return w.err
	}
	if !w.buffered {
		if _, err := w.f.Write(line); err != nil {
			return fmt.Errorf("append to %s: %w (is the disk full?)", w.path, err)
		}
		return nil
	}
	w.pending = append(w.pending, line...)
	if len(w.pending) >= 256<<10 {
		return w.flushLocked()
	}
	if w.timer == nil {
		w.timer = time.AfterFunc(flushInterval, w.timerFlush)
	}
	return nil
}

func (w *jsonlWriter) timerFlush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer = nil
	if w.f != nil && w.err == nil {
		if err := w.flushLocked(); err != nil {
			w.err = err
		}
	}
}

// flushLocked hands pending lines to the operating system in one write.
// Only whole lines are buffered, so a crash still tears at most one line.
func (w *jsonlWriter) flushLocked() error {
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	if len(w.pending) == 0 || w.f == nil {
		return nil
	}
	_, err := w.f.Write(w.pending)
	w.pending = w.pending[:0]
	if err != nil {
		return fmt.Errorf("append to %s: %w (is the disk full?)", w.path, err)
	}
	return nil
}

func (w *jsonlWriter) setBuffered(on bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buffered = on
	if !on {
		return w.flushLocked()
	}
	return nil
}

// flush writes pending lines and fsyncs the file.
func (w *jsonlWriter) flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	if err := w.flushLocked(); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", w.path, err)
	}
	return w.err
}

// pushOut hands pending lines to the operating system without fsync, so
// that a reader in the same process sees them.
func (w *jsonlWriter) pushOut() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *jsonlWriter) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	err := w.flushLocked()
	if serr := w.f.Sync(); err == nil && serr != nil {
		err = fmt.Errorf("sync %s: %w", w.path, serr)
	}
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", w.path, cerr)
	}
	w.f = nil
	return err
}

// flushInterval is FlushInterval, shortened by tests.
var flushInterval = FlushInterval
