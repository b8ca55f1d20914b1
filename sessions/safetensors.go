package sessions

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxSafetensorsHeader bounds the JSON header of a safetensors file, the same
// limit the reference implementation uses. It stops a corrupt length field
// from making the reader allocate gigabytes.
const MaxSafetensorsHeader = 100_000_000

// CRCMetaKey is the safetensors metadata key under which the writer stores a
// CRC-32 (IEEE) of the tensor data, as 8 lowercase hex digits. The checksum
// covers each tensor's bytes in order of tensor name, so it stays valid if
// another tool rewrites the file with the tensors in a different order.
const CRCMetaKey = "mealab.crc32"

// ErrChecksum is wrapped by errors from ReadSafetensors when the data does
// not match the stored checksum.
var ErrChecksum = errors.New("checksum mismatch")

// Tensor is one named, typed, shaped block of little-endian bytes, the unit
// stored in a safetensors file.
type Tensor struct {
	Name  string
	DType string // "F32", "F64", "I64", "U8", ... as named by safetensors.
	Shape []int  // An empty shape is a scalar with one element.
	Data  []byte // Little-endian, row-major, exactly NumElements*DTypeSize bytes.
}

// dtypeSizes lists the safetensors dtypes this package understands and the
// size of one element of each. Sub-byte float formats are not supported.
var dtypeSizes = map[string]int{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4,
	"I64": 8, "U64": 8, "F64": 8,
}

// DTypeSize returns the size in bytes of one element of dtype, or 0 if the
// dtype is unknown.
func DTypeSize(dtype string) int { return dtypeSizes[dtype] }

// NumElements returns the product of the shape (1 for a scalar), failing on
// negative dimensions or overflow.
func (t Tensor) NumElements() (int, error) {
	return shapeElements(t.Shape)
}

func shapeElements(shape []int) (int, error) {
	n := 1
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has a negative dimension", shape)
		}
		if d != 0 && n > math.MaxInt/d {
			return 0, fmt.Errorf("shape %v is too large", shape)
		}
		n *= d
	}
	return n, nil
}

// Validate checks that the tensor can be written: a usable name, a known
// dtype and a data length that matches the shape.
func (t Tensor) Validate() error {
	if t.Name == "" {
		return errors.New("tensor has an empty name; give every tensor a name")
	}
	if t.Name == "__metadata__" {
		return errors.New("tensor name \"__metadata__\" is reserved by the safetensors format; rename the tensor")
	}
	if !utf8.ValidString(t.Name) {
		return fmt.Errorf("tensor name %q is not valid UTF-8", t.Name)
	}
	size := DTypeSize(t.DType)
	if size == 0 {
		return fmt.Errorf("tensor %q has unknown dtype %q; use one of %s", t.Name, t.DType, knownDTypes())
	}
	n, err := t.NumElements()
	if err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if n > math.MaxInt/size || n*size != len(t.Data) {
		return fmt.Errorf("tensor %q: shape %v of %s needs %d bytes but Data has %d", t.Name, t.Shape, t.DType, uint64(n)*uint64(size), len(t.Data))
	}
	return nil
}

func knownDTypes() string {
	names := make([]string, 0, len(dtypeSizes))
	for k := range dtypeSizes {
		names = append(names, k)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// F32Tensor builds an F32 tensor from values. The shape is copied; a shape
// that does not match len(values) is reported when the tensor is written.
func F32Tensor(name string, shape []int, values []float32) Tensor {
	b := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return Tensor{Name: name, DType: "F32", Shape: cloneShape(shape), Data: b}
}

// F64Tensor builds an F64 tensor from values.
func F64Tensor(name string, shape []int, values []float64) Tensor {
	b := make([]byte, 8*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(v))
	}
	return Tensor{Name: name, DType: "F64", Shape: cloneShape(shape), Data: b}
}

// I64Tensor builds an I64 tensor from values, for example token ids or an
// optimizer step counter.
func I64Tensor(name string, shape []int, values []int64) Tensor {
	b := make([]byte, 8*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return Tensor{Name: name, DType: "I64", Shape: cloneShape(shape), Data: b}
}

// U8Tensor builds a U8 tensor from a copy of values, for example an RNG state.
func U8Tensor(name string, shape []int, values []byte) Tensor {
	return Tensor{Name: name, DType: "U8", Shape: cloneShape(shape), Data: append([]byte{}, values...)}
}

func cloneShape(shape []int) []int {
	// A nil shape and an empty shape both mean scalar; keep a non-nil slice
	// so that callers comparing shapes do not trip over the difference.
	return append([]int{}, shape...)
}

func (t Tensor) checkDType(want string, size int) error {
	if t.DType != want {
		return fmt.Errorf("tensor %q has dtype %s, not %s; convert it or read it with the matching accessor", t.Name, t.DType, want)
	}
	if len(t.Data)%size != 0 {
		return fmt.Errorf("tensor %q: %d data bytes is not a whole number of %s values", t.Name, len(t.Data), want)
	}
	return nil
}

// Float32s decodes an F32 tensor.
func (t Tensor) Float32s() ([]float32, error) {
	if err := t.checkDType("F32", 4); err != nil {
		return nil, err
	}
	out := make([]float32, len(t.Data)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
	}
	return out, nil
}

// Float64s decodes an F64 tensor.
func (t Tensor) Float64s() ([]float64, error) {
	if err := t.checkDType("F64", 8); err != nil {
		return nil, err
	}
	out := make([]float64, len(t.Data)/8)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(t.Data[8*i:]))
	}
	return out, nil
}

// Int64s decodes an I64 tensor.
func (t Tensor) Int64s() ([]int64, error) {
	if err := t.checkDType("I64", 8); err != nil {
		return nil, err
	}
	out := make([]int64, len(t.Data)/8)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(t.Data[8*i:]))
	}
	return out, nil
}

// Uint8s returns a copy of a U8 tensor's values.
func (t Tensor) Uint8s() ([]byte, error) {
	if err := t.checkDType("U8", 1); err != nil {
		return nil, err
	}
	return append([]byte{}, t.Data...), nil
}

// tensorCRC computes the CRCMetaKey checksum: CRC-32 (IEEE) over each
// tensor's data in order of tensor name.
func tensorCRC(tensors []Tensor) uint32 {
	idx := make([]int, len(tensors))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return tensors[idx[a]].Name < tensors[idx[b]].Name })
	var crc uint32
	for _, i := range idx {
		crc = crc32.Update(crc, crc32.IEEETable, tensors[i].Data)
	}
	return crc
}

func formatCRC(c uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], c)
	return hex.EncodeToString(b[:])
}

// validateTensors checks everything buildHeader would, without the cost of
// the checksum.
func validateTensors(tensors []Tensor, meta map[string]string) error {
	seen := make(map[string]bool, len(tensors))
	for _, t := range tensors {
		if err := t.Validate(); err != nil {
			return err
		}
		if seen[t.Name] {
			return fmt.Errorf("tensor name %q appears twice; tensor names must be unique", t.Name)
		}
		seen[t.Name] = true
	}
	for k, v := range meta {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("metadata %q: keys and values must be valid UTF-8", k)
		}
	}
	return nil
}

// buildHeader validates the tensors and returns the padded JSON header and
// the total size of the data section.
func buildHeader(tensors []Tensor, meta map[string]string) ([]byte, int64, error) {
	if err := validateTensors(tensors, meta); err != nil {
		return nil, 0, err
	}
	full := make(map[string]string, len(meta)+1)
	for k, v := range meta {
		full[k] = v
	}
	full[CRCMetaKey] = formatCRC(tensorCRC(tensors))

	var h bytes.Buffer
	h.WriteString(`{"__metadata__":`)
	mb, err := json.Marshal(full) // Map keys are sorted, so output is deterministic.
	if err != nil {
		return nil, 0, fmt.Errorf("encode metadata: %w", err)
	}
	h.Write(mb)
	var off int64
	for _, t := range tensors {
		nb, err := json.Marshal(t.Name)
		if err != nil {
			return nil, 0, fmt.Errorf("encode tensor name %q: %w", t.Name, err)
		}
		h.WriteByte(',')
		h.Write(nb)
		h.WriteString(`:{"dtype":"`)
		h.WriteString(t.DType)
		h.WriteString(`","shape":[`)
		for i, d := range t.Shape {
			if i > 0 {
				h.WriteByte(',')
			}
			h.WriteString(strconv.Itoa(d))
		}
		end := off + int64(len(t.Data))
		fmt.Fprintf(&h, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	h.WriteByte('}')
	// Pad with spaces so the data section starts 8-byte aligned, as the
	// reference writer does; this lets readers map tensors in place.
	for (8+h.Len())%8 != 0 {
		h.WriteByte(' ')
	}
	if h.Len() > MaxSafetensorsHeader {
		return nil, 0, fmt.Errorf("safetensors header would be %d bytes, over the %d byte limit; use fewer tensors or shorter names", h.Len(), MaxSafetensorsHeader)
	}
	return h.Bytes(), off, nil
}

// WriteSafetensors writes tensors in the given order, with meta as the
// "__metadata__" map plus a CRCMetaKey checksum of the data. The output is a
// standard safetensors file that other implementations, such as Python's
// safetensors package, can read.
func WriteSafetensors(w io.Writer, tensors []Tensor, meta map[string]string) error {
	header, _, err := buildHeader(tensors, meta)
	if err != nil {
		return err
	}
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(header)))
	if _, err := w.Write(n[:]); err != nil {
		return fmt.Errorf("write safetensors header length: %w", err)
	}
	if _, err := w.Write(header); err != nil {
		return fmt.Errorf("write safetensors header: %w", err)
	}
	for _, t := range tensors {
		if _, err := w.Write(t.Data); err != nil {
			return fmt.Errorf("write tensor %q: %w", t.Name, err)
		}
	}
	return nil
}

// EncodeSafetensors is WriteSafetensors into a byte slice.
func EncodeSafetensors(tensors []Tensor, meta map[string]string) ([]byte, error) {
	header, size, err := buildHeader(tensors, meta)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 8, 8+int64(len(header))+size)
	binary.LittleEndian.PutUint64(out, uint64(len(header)))
	out = append(out, header...)
	for _, t := range tensors {
		out = append(out, t.Data...)
	}
	return out, nil
}

// ReadSafetensors reads a whole safetensors stream. See DecodeSafetensors
// for the checks it makes. It never allocates much more than the bytes the
// stream actually contains, whatever the header claims.
func ReadSafetensors(r io.Reader) ([]Tensor, map[string]string, error) {
	var n [8]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, nil, fmt.Errorf("read safetensors: file is shorter than the 8-byte header length (%w); it is truncated or not a safetensors file", err)
	}
	hlen := binary.LittleEndian.Uint64(n[:])
	if hlen > MaxSafetensorsHeader {
		return nil, nil, fmt.Errorf("read safetensors: header length %d is over the %d byte limit; the file is corrupt or not a safetensors file", hlen, MaxSafetensorsHeader)
	}
	// io.ReadAll grows its buffer as data arrives, so a truncated file with
	// a huge claimed size fails without a huge allocation.
	rest, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("read safetensors: %w", err)
	}
	buf := make([]byte, 0, 8+len(rest))
	buf = append(buf, n[:]...)
	buf = append(buf, rest...)
	return DecodeSafetensors(buf)
}

// rawTensorInfo is one header entry as it appears on disk. Unknown fields
// are ignored, as in the reference implementation.
type rawTensorInfo struct {
	DType       *string   `json:"dtype"`
	Shape       *[]int64  `json:"shape"`
	DataOffsets *[]uint64 `json:"data_offsets"`
}

// DecodeSafetensors parses a safetensors file held in memory. The returned
// tensors' Data slices alias b. It checks that the header length is bounded
// and inside the file, that the header is valid UTF-8 JSON without
// duplicate names, that every dtype is known, that each shape matches its
// byte span, that the spans tile the data section exactly with no gaps,
// overlaps or trailing bytes, and, when present, the CRCMetaKey checksum.
// The checksum key is removed from the returned metadata.
func DecodeSafetensors(b []byte) ([]Tensor, map[string]string, error) {
	if len(b) < 8 {
		return nil, nil, fmt.Errorf("read safetensors: file is %d bytes, shorter than the 8-byte header length; it is truncated or not a safetensors file", len(b))
	}
	hlen := binary.LittleEndian.Uint64(b)
	if hlen > MaxSafetensorsHeader {
		return nil, nil, fmt.Errorf("read safetensors: header length %d is over the %d byte limit; the file is corrupt or not a safetensors file", hlen, MaxSafetensorsHeader)
	}
	if hlen > uint64(len(b)-8) {
		return nil, nil, fmt.Errorf("read safetensors: header length %d runs past the end of the %d-byte file; the file is truncated", hlen, len(b))
	}
	header := b[8 : 8+hlen]
	data := b[8+hlen:]
	if !utf8.Valid(header) {
		return nil, nil, errors.New("read safetensors: header is not valid UTF-8; the file is corrupt")
	}
	if len(bytes.TrimLeft(header, " \t\r\n")) == 0 || bytes.TrimLeft(header, " \t\r\n")[0] != '{' {
		return nil, nil, errors.New("read safetensors: header is not a JSON object; the file is corrupt or not a safetensors file")
	}

	entries, err := splitHeaderObject(header)
	if err != nil {
		return nil, nil, fmt.Errorf("read safetensors: header: %w; the file is corrupt", err)
	}

	var meta map[string]string
	type placed struct {
		t          Tensor
		begin, end uint64
	}
	tensors := make([]placed, 0, len(entries))
	for _, e := range entries {
		if e.key == "" {
			return nil, nil, errors.New("read safetensors: a tensor has an empty name; the file is corrupt")
		}
		if e.key == "__metadata__" {
			if err := json.Unmarshal(e.value, &meta); err != nil {
				return nil, nil, fmt.Errorf("read safetensors: __metadata__ must map strings to strings: %w", err)
			}
			continue
		}
		var info rawTensorInfo
		if err := json.Unmarshal(e.value, &info); err != nil {
			return nil, nil, fmt.Errorf("read safetensors: tensor %q: %w", e.key, err)
		}
		if info.DType == nil || info.Shape == nil || info.DataOffsets == nil {
			return nil, nil, fmt.Errorf("read safetensors: tensor %q must have dtype, shape and data_offsets", e.key)
		}
		size := DTypeSize(*info.DType)
		if size == 0 {
			return nil, nil, fmt.Errorf("read safetensors: tensor %q has unsupported dtype %q; this mealab reads %s", e.key, *info.DType, knownDTypes())
		}
		shape := make([]int, len(*info.Shape))
		for i, d := range *info.Shape {
			if d < 0 {
				return nil, nil, fmt.Errorf("read safetensors: tensor %q has a negative dimension in shape %v; the file is corrupt", e.key, *info.Shape)
			}
			if int64(int(d)) != d {
				return nil, nil, fmt.Errorf("read safetensors: tensor %q shape %v does not fit this machine", e.key, *info.Shape)
			}
			shape[i] = int(d)
		}
		if len(*info.DataOffsets) != 2 {
			return nil, nil, fmt.Errorf("read safetensors: tensor %q data_offsets must be [begin, end]", e.key)
		}
		begin, end := (*info.DataOffsets)[0], (*info.DataOffsets)[1]
		if begin > end || end > uint64(len(data)) {
			return nil, nil, fmt.Errorf("read safetensors: tensor %q data_offsets [%d, %d] are outside the %d-byte data section; the file is truncated or corrupt", e.key, begin, end, len(data))
		}
		// Compare element count and span with overflow-safe arithmetic: the
		// span is bounded by the file size, so stop multiplying once the
		// product exceeds it.
		span := end - begin
		want := uint64(size)
		for _, d := range shape {
			if d == 0 {
				want = 0
				break
			}
		}
		for _, d := range shape {
			if want == 0 {
				break
			}
			if want > span/uint64(d) {
				want = math.MaxUint64 // Larger than any span: a mismatch.
				break
			}
			want *= uint64(d)
		}
		if want != span {
			return nil, nil, fmt.Errorf("read safetensors: tensor %q: shape %v of %s does not match its %d-byte span; the file is corrupt", e.key, shape, *info.DType, span)
		}
		tensors = append(tensors, placed{
			t:     Tensor{Name: e.key, DType: *info.DType, Shape: shape, Data: data[begin:end:end]},
			begin: begin, end: end,
		})
	}

	// The spans, sorted by position, must tile the data section exactly.
	order := make([]int, len(tensors))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool {
		pa, pb := tensors[order[a]], tensors[order[b]]
		if pa.begin != pb.begin {
			return pa.begin < pb.begin
		}
		return pa.end < pb.end
	})
	var pos uint64
	for _, i := range order {
		p := tensors[i]
		if p.begin != pos {
			if p.begin < pos {
				return nil, nil, fmt.Errorf("read safetensors: tensor %q overlaps another tensor at byte %d; the file is corrupt", p.t.Name, p.begin)
			}
			return nil, nil, fmt.Errorf("read safetensors: gap in the data section before tensor %q (bytes %d to %d belong to no tensor); the file is corrupt", p.t.Name, pos, p.begin)
		}
		pos = p.end
	}
	if pos != uint64(len(data)) {
		return nil, nil, fmt.Errorf("read safetensors: %d bytes after the last tensor belong to no tensor; the file is corrupt or was appended to", uint64(len(data))-pos)
	}

	out := make([]Tensor, len(tensors))
	for i, p := range tensors {
		out[i] = p.t
	}
	if meta == nil {
		meta = map[string]string{}
	}
	if want, ok := meta[CRCMetaKey]; ok {
		got := formatCRC(tensorCRC(out))
		if !strings.EqualFold(want, got) {
			return nil, nil, fmt.Errorf("read safetensors: %w: data crc32 is %s but the header says %s; the file is corrupt", ErrChecksum, got, want)
		}
		delete(meta, CRCMetaKey)
	}
	return out, meta, nil
}

type headerEntry struct {
	key   string
	value json.RawMessage
}

// splitHeaderObject parses the top-level header object, keeping the entries
// in file order and rejecting duplicate keys, which encoding/json would
// silently resolve to the last value.
func splitHeaderObject(header []byte) ([]headerEntry, error) {
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var out []headerEntry
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errors.New("object key is not a string")
		}
		if seen[key] {
			return nil, fmt.Errorf("name %q appears twice", key)
		}
		seen[key] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("entry %q: %w", key, err)
		}
		out = append(out, headerEntry{key: key, value: v})
	}
	if _, err := dec.Token(); err != nil { // Closing brace.
		return nil, err
	}
	// Only padding may follow the object.
	if len(bytes.Trim(header[dec.InputOffset():], " \t\r\n")) != 0 {
		return nil, errors.New("unexpected bytes after the JSON object")
	}
	return out, nil
}
