package sessions

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
)

func sampleTensors() []Tensor {
	return []Tensor{
		F32Tensor("transformer.wte.weight", []int{2, 3}, []float32{1, -2, 3.5, float32(math.Inf(1)), 0, -0.25}),
		F64Tensor("scalar", nil, []float64{math.Pi}),
		I64Tensor("step", []int{1}, []int64{-7}),
		U8Tensor("rng", []int{4}, []byte{1, 2, 3, 255}),
		{Name: "empty", DType: "F32", Shape: []int{0, 5}, Data: []byte{}},
		{Name: "u32", DType: "U32", Shape: []int{2}, Data: []byte{1, 0, 0, 0, 2, 0, 0, 0}},
	}
}

func TestSafetensorsRoundTrip(t *testing.T) {
	cases := []struct {
		name    string
		tensors []Tensor
		meta    map[string]string
	}{
		{"typical", sampleTensors(), map[string]string{"note": "hello", "ünïcode": "✓"}},
		{"nil meta", sampleTensors(), nil},
		{"empty meta", sampleTensors()[:1], map[string]string{}},
		{"zero tensors", nil, map[string]string{"a": "b"}},
		{"zero tensors no meta", nil, nil},
		{"scalar only", []Tensor{F32Tensor("s", []int{}, []float32{42})}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := EncodeSafetensors(tc.tensors, tc.meta)
			if err != nil {
				t.Fatal(err)
			}
			var w bytes.Buffer
			if err := WriteSafetensors(&w, tc.tensors, tc.meta); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(w.Bytes(), b) {
				t.Fatal("WriteSafetensors and EncodeSafetensors disagree")
			}
			if n := binary.LittleEndian.Uint64(b); (8+n)%8 != 0 {
				t.Errorf("header length %d leaves the data unaligned", n)
			}
			again, err := EncodeSafetensors(tc.tensors, tc.meta)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatal("encoding is not deterministic")
			}
			got, meta, err := ReadSafetensors(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.tensors) {
				t.Fatalf("got %d tensors, want %d", len(got), len(tc.tensors))
			}
			for i := range got {
				want := tc.tensors[i]
				if want.Shape == nil {
					want.Shape = []int{}
				}
				if got[i].Name != want.Name || got[i].DType != want.DType || !reflect.DeepEqual(got[i].Shape, want.Shape) || !bytes.Equal(got[i].Data, want.Data) {
					t.Errorf("tensor %d: got %+v, want %+v", i, got[i], want)
				}
			}
			wantMeta := tc.meta
			if wantMeta == nil {
				wantMeta = map[string]string{}
			}
			if !reflect.DeepEqual(meta, wantMeta) {
				t.Errorf("meta %v, want %v", meta, wantMeta)
			}
		})
	}
}

func TestTensorAccessors(t *testing.T) {
	f := F32Tensor("f", []int{3}, []float32{1, 2.5, -3})
	if v, err := f.Float32s(); err != nil || !reflect.DeepEqual(v, []float32{1, 2.5, -3}) {
		t.Errorf("Float32s = %v, %v", v, err)
	}
	if _, err := f.Int64s(); err == nil || !strings.Contains(err.Error(), "dtype F32, not I64") {
		t.Errorf("Int64s on F32: %v", err)
	}
	d := F64Tensor("d", []int{2}, []float64{1e300, -1})
	if v, err := d.Float64s(); err != nil || !reflect.DeepEqual(v, []float64{1e300, -1}) {
		t.Errorf("Float64s = %v, %v", v, err)
	}
	i := I64Tensor("i", []int{2}, []int64{math.MinInt64, 5})
	if v, err := i.Int64s(); err != nil || !reflect.DeepEqual(v, []int64{math.MinInt64, 5}) {
		t.Errorf("Int64s = %v, %v", v, err)
	}
	u := U8Tensor("u", []int{2}, []byte{9, 8})
	if v, err := u.Uint8s(); err != nil || !reflect.DeepEqual(v, []byte{9, 8}) {
		t.Errorf("Uint8s = %v, %v", v, err)
	}
	// Little-endian byte order is part of the format.
	if !bytes.Equal(F32Tensor("x", nil, []float32{1}).Data, []byte{0, 0, 0x80, 0x3f}) {
		t.Error("F32 data is not little-endian IEEE 754")
	}
}

func TestWriteSafetensorsRejects(t *testing.T) {
	cases := []struct {
		name    string
		tensors []Tensor
		want    string
	}{
		{"empty name", []Tensor{F32Tensor("", nil, []float32{1})}, "empty name"},
		{"reserved name", []Tensor{F32Tensor("__metadata__", nil, []float32{1})}, "reserved"},
		{"duplicate", []Tensor{F32Tensor("a", nil, []float32{1}), F32Tensor("a", nil, []float32{1})}, "twice"},
		{"bad dtype", []Tensor{{Name: "a", DType: "F17", Data: []byte{1}}}, "unknown dtype"},
		{"shape mismatch", []Tensor{F32Tensor("a", []int{3}, []float32{1, 2})}, "needs 12 bytes but Data has 8"},
		{"negative dim", []Tensor{{Name: "a", DType: "U8", Shape: []int{-1}}}, "negative"},
		{"bad utf8", []Tensor{F32Tensor("a\xff", nil, []float32{1})}, "UTF-8"},
	}
	for _, tc := range cases {
		_, err := EncodeSafetensors(tc.tensors, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want error containing %q", tc.name, err, tc.want)
		}
	}
}

// goldenSafetensors is built by hand from the format description: an 8-byte
// little-endian header length (0x90 = 144), 138 bytes of JSON padded with 6
// spaces, then F32 [1, 2] and I64 scalar 3, all little-endian. Its metadata
// has no mealab checksum, like files written by Python.
var goldenSafetensors = []byte("\x90\x00\x00\x00\x00\x00\x00\x00" +
	`{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[],"data_offsets":[8,16]}}` +
	"      " +
	"\x00\x00\x80\x3f\x00\x00\x00\x40" +
	"\x03\x00\x00\x00\x00\x00\x00\x00")

func TestSafetensorsGolden(t *testing.T) {
	tensors, meta, err := DecodeSafetensors(goldenSafetensors)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(meta, map[string]string{"format": "pt"}) {
		t.Errorf("meta = %v", meta)
	}
	if len(tensors) != 2 || tensors[0].Name != "a" || tensors[1].Name != "b" {
		t.Fatalf("tensors = %+v", tensors)
	}
	if v, err := tensors[0].Float32s(); err != nil || !reflect.DeepEqual(v, []float32{1, 2}) || !reflect.DeepEqual(tensors[0].Shape, []int{2}) {
		t.Errorf("a = %v %v, %v", v, tensors[0].Shape, err)
	}
	if v, err := tensors[1].Int64s(); err != nil || !reflect.DeepEqual(v, []int64{3}) || len(tensors[1].Shape) != 0 {
		t.Errorf("b = %v %v, %v", v, tensors[1].Shape, err)
	}

	// Our own encoding of the same tensors has the same layout apart from
	// the header, which gains the checksum.
	enc, err := EncodeSafetensors(tensors, meta)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(enc, goldenSafetensors[8+144:]) {
		t.Error("data section differs from the golden file")
	}
	if !bytes.Contains(enc, []byte(`"mealab.crc32":"`)) {
		t.Error("encoding lacks the checksum")
	}
}

// stFile assembles a safetensors file from a header and data, for tests of
// malformed input.
func stFile(header string, data []byte) []byte {
	b := make([]byte, 8, 8+len(header)+len(data))
	binary.LittleEndian.PutUint64(b, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func TestDecodeSafetensorsRejects(t *testing.T) {
	d8 := make([]byte, 8)
	huge := make([]byte, 8)
	binary.LittleEndian.PutUint64(huge, 1<<62)
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "shorter than the 8-byte"},
		{"huge header", huge, "over the"},
		{"header past end", stFile(`{}`, nil)[:9], "past the end"},
		{"not json", stFile(`nope`, nil), "not a JSON object"},
		{"array", stFile(`[1]`, nil), "not a JSON object"},
		{"bad json", stFile(`{"a":`, nil), "header"},
		{"trailing junk in header", stFile(`{} x`, nil), "after the JSON object"},
		{"bad utf8", stFile("{\"\xff\":1}", nil), "UTF-8"},
		{"unknown dtype", stFile(`{"a":{"dtype":"Q8","shape":[1],"data_offsets":[0,1]}}`, d8[:1]), "unsupported dtype"},
		{"missing field", stFile(`{"a":{"dtype":"U8","shape":[1]}}`, d8[:1]), "must have"},
		{"shape mismatch", stFile(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, d8), "does not match"},
		{"shape overflow", stFile(`{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}`, d8), "does not match"},
		{"negative dim", stFile(`{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}`, nil), "negative"},
		{"offsets reversed", stFile(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}}`, d8[:4]), "outside"},
		{"offsets past end", stFile(`{"a":{"dtype":"U8","shape":[16],"data_offsets":[0,16]}}`, d8), "outside"},
		{"three offsets", stFile(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}`, d8[:1]), "[begin, end]"},
		{"gap", stFile(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}`, d8), "gap"},
		{"overlap", stFile(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}`, d8[:6]), "overlaps"},
		{"trailing data", stFile(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}`, d8), "after the last tensor"},
		{"duplicate name", stFile(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}`, nil), "twice"},
		{"bad metadata", stFile(`{"__metadata__":{"a":1}}`, nil), "strings to strings"},
		{"bad checksum", stFile(`{"__metadata__":{"mealab.crc32":"00000000"},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, []byte{1}), "checksum mismatch"},
	}
	for _, tc := range cases {
		_, _, err := DecodeSafetensors(tc.file)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want error containing %q", tc.name, err, tc.want)
		}
		_, _, err2 := ReadSafetensors(bytes.NewReader(tc.file))
		if err2 == nil {
			t.Errorf("%s: ReadSafetensors accepted what DecodeSafetensors rejects", tc.name)
		}
	}
}

func TestSafetensorsTruncatedAtEveryLength(t *testing.T) {
	full, err := EncodeSafetensors(sampleTensors(), map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	for n := 0; n < len(full); n++ {
		if _, _, err := DecodeSafetensors(full[:n]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: no error", n, len(full))
		}
		if _, _, err := ReadSafetensors(bytes.NewReader(full[:n])); err == nil {
			t.Fatalf("ReadSafetensors truncated to %d of %d bytes: no error", n, len(full))
		}
	}
	if _, _, err := DecodeSafetensors(append(full, 0)); err == nil {
		t.Fatal("one extra byte accepted")
	}
}

func TestSafetensorsEveryBitFlipDetected(t *testing.T) {
	tensors := []Tensor{
		F32Tensor("w", []int{2, 2}, []float32{0.5, -1, 2, 3}),
		I64Tensor("b", []int{2}, []int64{1, 2}),
		U8Tensor("c", []int{3}, []byte{0, 0xff, 7}),
	}
	full, err := EncodeSafetensors(tensors, nil)
	if err != nil {
		t.Fatal(err)
	}
	dataStart := 8 + int(binary.LittleEndian.Uint64(full))
	for i := dataStart; i < len(full); i++ {
		for bit := 0; bit < 8; bit++ {
			flipped := append([]byte{}, full...)
			flipped[i] ^= 1 << bit
			_, _, err := DecodeSafetensors(flipped)
			if !errors.Is(err, ErrChecksum) {
				t.Fatalf("flip of bit %d in byte %d: got %v, want a checksum error", bit, i, err)
			}
		}
	}
}

func TestSafetensorsChecksumIgnoresTensorOrder(t *testing.T) {
	a := []Tensor{F32Tensor("x", []int{1}, []float32{1}), F32Tensor("y", []int{1}, []float32{2})}
	b := []Tensor{a[1], a[0]}
	ea, _ := EncodeSafetensors(a, nil)
	eb, _ := EncodeSafetensors(b, nil)
	if bytes.Equal(ea, eb) {
		t.Fatal("different orders produced identical files")
	}
	// Swap the checksum from one file into the other: still valid.
	crc := func(b []byte) string {
		i := bytes.Index(b, []byte(`"mealab.crc32":"`))
		return string(b[i+16 : i+24])
	}
	if crc(ea) != crc(eb) {
		t.Errorf("checksum depends on tensor order: %s vs %s", crc(ea), crc(eb))
	}
}
