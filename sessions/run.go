package sessions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Run is one training run inside a session: its metadata, JSON-lines logs
// and checkpoints. Its methods are safe for concurrent use. Close it when
// done so buffered lines reach the disk.
type Run struct {
	sess *Session
	name string
	dir  string

	mu      sync.Mutex
	writers map[string]*jsonlWriter // Keyed by file name, opened lazily.
	buffer  bool
	closed  bool
}

func newRun(s *Session, name, dir string) *Run {
	return &Run{sess: s, name: name, dir: dir, writers: map[string]*jsonlWriter{}}
}

// Name returns the run's name.
func (r *Run) Name() string { return r.name }

// Dir returns the run's directory.
func (r *Run) Dir() string { return r.dir }

// Session returns the session the run belongs to.
func (r *Run) Session() *Session { return r.sess }

// encodeRunDoc builds run.json: the caller's object with "format" and
// "version" added in front. Those two keys are reserved.
func encodeRunDoc(meta any) ([]byte, error) { return encodeDoc(RunFormat, RunVersion, meta) }

// encodeDoc is encodeRunDoc for any document format.
func encodeDoc(format string, version int, meta any) ([]byte, error) {
	b, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("encode run metadata: %w", err)
	}
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		b = []byte("{}")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil || fields == nil {
		return nil, fmt.Errorf("run metadata must encode to a JSON object, got %.40s; pass a struct or map", b)
	}
	for _, k := range []string{"format", "version"} {
		if _, ok := fields[k]; ok {
			return nil, fmt.Errorf("run metadata uses the reserved key %q; rename that field", k)
		}
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, `{"format":%q,"version":%d`, format, version)
	// Splice rather than re-marshal the map so the caller's field order
	// survives, which keeps run.json readable.
	rest := bytes.TrimSpace(b[1:])
	if len(rest) > 0 && rest[0] != '}' {
		out.WriteByte(',')
	}
	out.Write(rest)
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, out.Bytes(), "", "  "); err != nil {
		return nil, fmt.Errorf("encode run metadata: %w", err)
	}
	pretty.WriteByte('\n')
	return pretty.Bytes(), nil
}

// readDoc reads run.json and checks its format and version.
func (r *Run) readDoc() ([]byte, error) {
	path := filepath.Join(r.dir, runFile)
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s is missing; the run was not created completely (remove the run directory)", path)
		}
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var h struct {
		Format  string `json:"format"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(data, &h); err != nil {
		return nil, fmt.Errorf("%s is not valid: %w; the run is damaged", path, err)
	}
	if h.Format != RunFormat {
		return nil, fmt.Errorf("%s has format %q, not %q; the run is damaged", path, h.Format, RunFormat)
	}
	if h.Version > RunVersion {
		return nil, &NewerVersionError{What: path, Version: h.Version}
	}
	if h.Version < 1 {
		return nil, fmt.Errorf("%s has invalid version %d; the run is damaged", path, h.Version)
	}
	return data, nil
}

// SaveMeta replaces run.json with meta, which must encode to a JSON object
// without the reserved keys "format" and "version". By convention the
// training configuration goes under "config".
func (r *Run) SaveMeta(meta any) error {
	doc, err := encodeRunDoc(meta)
	if err != nil {
		return fmt.Errorf("save metadata of run %q: %w", r.name, err)
	}
	if err := WriteFileAtomic(filepath.Join(r.dir, runFile), doc, 0o644); err != nil {
		return fmt.Errorf("save metadata of run %q: %w", r.name, err)
	}
	return nil
}

// LoadMeta decodes run.json into into. The reserved "format" and "version"
// keys are included in the object, so structs without those fields simply
// ignore them.
func (r *Run) LoadMeta(into any) error {
	data, err := r.readDoc()
	if err != nil {
		return fmt.Errorf("load metadata of run %q: %w", r.name, err)
	}
	if err := json.Unmarshal(data, into); err != nil {
		return fmt.Errorf("load metadata of run %q: %w", r.name, err)
	}
	return nil
}

// Config returns the "config" field of run.json, or nil if there is none.
func (r *Run) Config() (json.RawMessage, error) {
	var doc struct {
		Config json.RawMessage `json:"config"`
	}
	if err := r.LoadMeta(&doc); err != nil {
		return nil, err
	}
	if len(doc.Config) == 0 {
		return nil, nil
	}
	// run.json is indented for people; hand callers the compact form.
	var c bytes.Buffer
	if err := json.Compact(&c, doc.Config); err != nil {
		return nil, fmt.Errorf("run %q: config: %w", r.name, err)
	}
	return c.Bytes(), nil
}

// writer returns the appender for one JSON-lines file, opening it on first
// use so that runs without samples have no samples file.
func (r *Run) writer(file, format string) (*jsonlWriter, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("append to run %q: the run is closed; open it again with OpenRun", r.name)
	}
	if w := r.writers[file]; w != nil {
		return w, nil
	}
	w, err := openJSONL(filepath.Join(r.dir, file), format)
	if err != nil {
		return nil, fmt.Errorf("run %q: %w", r.name, err)
	}
	if r.buffer {
		_ = w.setBuffered(true) // Nothing is pending yet, so this cannot fail.
	}
	r.writers[file] = w
	return w, nil
}

func (r *Run) appendTo(file, format string, v any) error {
	w, err := r.writer(file, format)
	if err != nil {
		return err
	}
	return w.append(v)
}

// AppendMetric appends v, encoded as JSON, as one line of metrics.jsonl.
// encoding/json cannot encode NaN or infinite floats; use JSONFloat for
// fields that may hold them, such as the loss of a diverging run.
func (r *Run) AppendMetric(v any) error { return r.appendTo(metricsFile, FormatMetrics, v) }

// AppendEvent appends v as one line of events.jsonl.
func (r *Run) AppendEvent(v any) error { return r.appendTo(eventsFile, FormatEvents, v) }

// AppendSample appends v as one line of samples.jsonl.
func (r *Run) AppendSample(v any) error { return r.appendTo(samplesFile, FormatSamples, v) }

// SetBuffered switches between writing every line immediately (the
// default) and collecting lines in memory. Buffered lines are handed to the
// operating system within FlushInterval, on Flush and on Close, always as
// whole lines, so a crash still loses at most the last couple of seconds
// and tears at most one line. Turning buffering off flushes.
func (r *Run) SetBuffered(on bool) error {
	r.mu.Lock()
	r.buffer = on
	ws := r.writerList()
	r.mu.Unlock()
	var errs []error
	for _, w := range ws {
		errs = append(errs, w.setBuffered(on))
	}
	return errors.Join(errs...)
}

func (r *Run) writerList() []*jsonlWriter {
	ws := make([]*jsonlWriter, 0, len(r.writers))
	for _, w := range r.writers {
		ws = append(ws, w)
	}
	return ws
}

// Flush hands buffered lines to the operating system and fsyncs the log
// files. It is meant for checkpoints and shutdown, not every step.
func (r *Run) Flush() error {
	r.mu.Lock()
	ws := r.writerList()
	r.mu.Unlock()
	var errs []error
	for _, w := range ws {
		errs = append(errs, w.flush())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("flush run %q: %w", r.name, err)
	}
	return nil
}

// Close flushes and closes the log files. Later appends fail; reading and
// checkpoint methods keep working. Close is idempotent.
func (r *Run) Close() error {
	r.mu.Lock()
	ws := r.writerList()
	r.writers = map[string]*jsonlWriter{}
	r.closed = true
	r.mu.Unlock()
	var errs []error
	for _, w := range ws {
		errs = append(errs, w.close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close run %q: %w", r.name, err)
	}
	return nil
}

// read reads one of the run's JSON-lines files. A file that does not exist
// yet reads as empty.
func (r *Run) read(file, format string, fn func(raw json.RawMessage) error) (ReadReport, error) {
	r.mu.Lock()
	w := r.writers[file]
	r.mu.Unlock()
	if w != nil {
		// Make this process's own buffered lines visible to the read.
		if err := w.pushOut(); err != nil {
			return ReadReport{}, err
		}
	}
	path := filepath.Join(r.dir, file)
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return ReadReport{}, nil
		}
		return ReadReport{}, fmt.Errorf("read run %q: %w", r.name, err)
	}
	defer f.Close()
	rep, err := ReadJSONL(f, format, fn)
	if err != nil {
		var nv *NewerVersionError
		if errors.As(err, &nv) {
			nv.What = path
			return rep, nv
		}
		return rep, fmt.Errorf("read run %q: %w", r.name, err)
	}
	return rep, nil
}

// ReadMetrics calls fn with each line of metrics.jsonl. See ReadJSONL for
// how damaged lines are handled.
func (r *Run) ReadMetrics(fn func(raw json.RawMessage) error) (ReadReport, error) {
	return r.read(metricsFile, FormatMetrics, fn)
}

// ReadEvents calls fn with each line of events.jsonl.
func (r *Run) ReadEvents(fn func(raw json.RawMessage) error) (ReadReport, error) {
	return r.read(eventsFile, FormatEvents, fn)
}

// ReadSamples calls fn with each line of samples.jsonl.
func (r *Run) ReadSamples(fn func(raw json.RawMessage) error) (ReadReport, error) {
	return r.read(samplesFile, FormatSamples, fn)
}
