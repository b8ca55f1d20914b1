package sessions

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Tail reads a JSON-lines file that another process is appending to, a
// little at a time: each Next hands over the complete lines added since the
// previous call. A line still being written (no newline yet) is left for a
// later call rather than reported as damaged, so a follower polling a live
// run never loses or misreads a point. A file that is missing reads as
// empty; one that shrank (replaced by a new writer) is read again from the
// start, with a warning.
//
// A Tail is not safe for concurrent use.
type Tail struct {
	path, format string
	off          int64
	sawHeader    bool
	lineNo       int
}

// NewTail follows the JSON-lines file path whose header names format.
func NewTail(path, format string) *Tail { return &Tail{path: path, format: format} }

// TailMetrics, TailEvents and TailSamples follow the run's log files.
func (r *Run) TailMetrics() *Tail { return NewTail(filepath.Join(r.dir, metricsFile), FormatMetrics) }

// TailEvents follows events.jsonl.
func (r *Run) TailEvents() *Tail { return NewTail(filepath.Join(r.dir, eventsFile), FormatEvents) }

// TailSamples follows samples.jsonl.
func (r *Run) TailSamples() *Tail { return NewTail(filepath.Join(r.dir, samplesFile), FormatSamples) }

// Offset is how many bytes of the file have been handed over.
func (t *Tail) Offset() int64 { return t.off }

// Next calls fn with each complete line appended since the last call. The
// report counts this call's lines only. Errors are those of ReadJSONL: a
// header of another format or a newer version, a read error, or fn's.
func (t *Tail) Next(fn func(raw json.RawMessage) error) (ReadReport, error) {
	var rep ReadReport
	f, err := os.Open(t.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return rep, nil
		}
		return rep, fmt.Errorf("follow %s: %w", t.path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return rep, fmt.Errorf("follow %s: %w", t.path, err)
	}
	if st.Size() < t.off {
		rep.warn("%s shrank from %d to %d bytes (rewritten by another process); reading it again from the start", t.path, t.off, st.Size())
		t.off, t.sawHeader, t.lineNo = 0, false, 0
	}
	if st.Size() == t.off {
		return rep, nil
	}
	if _, err := f.Seek(t.off, io.SeekStart); err != nil {
		return rep, fmt.Errorf("follow %s: %w", t.path, err)
	}
	// Only what is there now: a writer appending during the read is picked
	// up next time.
	br := bufio.NewReaderSize(io.LimitReader(f, st.Size()-t.off), 64<<10)
	for {
		start := t.off
		raw, complete, tooLong, err := readLine(br)
		if err != nil {
			return rep, fmt.Errorf("follow %s: %w", t.path, err)
		}
		if raw == nil && !tooLong {
			return rep, nil // end of what was written
		}
		if !complete {
			return rep, nil // still being written: leave it for the next call
		}
		t.off = start + int64(len(raw)) + 1
		if tooLong {
			t.off = start // the length is unknown here; find it by skipping to the newline
			if err := t.skipLong(f, start); err != nil {
				return rep, err
			}
			rep.Skipped++
			rep.warn("%s line %d is longer than %d bytes; skipped", t.path, t.lineNo+1, MaxLineBytes)
			t.lineNo++
			return rep, nil
		}
		t.lineNo++
		line := bytes.TrimSpace(raw)
		if len(line) == 0 {
			continue
		}
		if !json.Valid(line) {
			rep.Skipped++
			rep.warn("%s line %d is not valid JSON; skipped", t.path, t.lineNo)
			continue
		}
		if !t.sawHeader {
			t.sawHeader = true
			if h, ok := parseHeader(line); ok {
				if h.Format != t.format {
					return rep, fmt.Errorf("follow %s: the file holds %q, not %q", t.path, h.Format, t.format)
				}
				if h.Version > JSONLVersion {
					return rep, &NewerVersionError{What: t.path, Version: h.Version}
				}
				continue
			}
		}
		rep.Lines++
		if err := fn(json.RawMessage(append([]byte(nil), line...))); err != nil {
			return rep, fmt.Errorf("follow %s line %d: %w", t.path, t.lineNo, err)
		}
	}
}

// skipLong moves the offset past the over-long line starting at start.
func (t *Tail) skipLong(f *os.File, start int64) error {
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		return err
	}
	br := bufio.NewReader(f)
	n := int64(0)
	for {
		b, err := br.ReadSlice('\n')
		n += int64(len(b))
		if err == nil {
			t.off = start + n
			return nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil // incomplete: try again later from start
		}
	}
}
