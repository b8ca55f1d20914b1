package sessions

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func FuzzReadSafetensors(f *testing.F) {
	f.Add(goldenSafetensors)
	if b, err := EncodeSafetensors(sampleTensors(), map[string]string{"k": "v"}); err == nil {
		f.Add(b)
	}
	if b, err := EncodeSafetensors(nil, nil); err == nil {
		f.Add(b)
	}
	f.Add(stFile(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}`, []byte{1, 2, 3, 4}))
	f.Fuzz(func(t *testing.T, data []byte) {
		tensors, meta, err := DecodeSafetensors(data)
		tensors2, meta2, err2 := ReadSafetensors(bytes.NewReader(data))
		if (err == nil) != (err2 == nil) {
			t.Fatalf("DecodeSafetensors err %v but ReadSafetensors err %v", err, err2)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(tensors, tensors2) || !reflect.DeepEqual(meta, meta2) {
			t.Fatal("DecodeSafetensors and ReadSafetensors disagree")
		}
		// Anything accepted must re-encode and decode to the same thing.
		enc, err := EncodeSafetensors(tensors, meta)
		if err != nil {
			t.Fatalf("accepted file does not re-encode: %v", err)
		}
		back, backMeta, err := DecodeSafetensors(enc)
		if err != nil {
			t.Fatalf("re-encoded file does not decode: %v", err)
		}
		if !reflect.DeepEqual(back, tensors) || !reflect.DeepEqual(backMeta, meta) {
			t.Fatal("round trip changed the contents")
		}
	})
}

func FuzzReadJSONL(f *testing.F) {
	f.Add([]byte(hdr + `{"step":1}` + "\n" + `{"step":2,"lo`))
	f.Add([]byte(`{"format":"mealab.metrics","version":3}` + "\n"))
	f.Add([]byte("garbage\n\x00\n{}\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		rep, err := ReadJSONL(bytes.NewReader(data), FormatMetrics, func(raw json.RawMessage) error {
			if !json.Valid(raw) {
				t.Fatalf("callback got invalid JSON %q", raw)
			}
			if bytes.IndexByte(raw, '\n') >= 0 {
				t.Fatalf("line contains a newline: %q", raw)
			}
			n++
			return nil
		})
		if rep.Lines != n {
			t.Fatalf("report says %d lines, callback saw %d", rep.Lines, n)
		}
		if rep.Skipped < 0 || len(rep.Warnings) > maxWarnings+1 {
			t.Fatalf("bad report %+v", rep)
		}
		lines := bytes.Count(data, []byte("\n")) + 1
		if rep.Lines+rep.Skipped > lines {
			t.Fatalf("%d lines and %d skipped from %d lines of input", rep.Lines, rep.Skipped, lines)
		}
		_ = err
	})
}

func FuzzSessionMeta(f *testing.F) {
	f.Add([]byte(`{"format":"mealab.session","version":1,"name":"a","created":"2024-01-02T03:04:05Z","updated":"2024-01-02T03:04:05Z","meta":{"preset":"tiny"}}`))
	f.Add([]byte(`{"format":"mealab.session","version":2}`))
	f.Add([]byte(`{"format":"mealab.session","version":1,"meta":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := parseSessionDoc(data, "session.json")
		if err != nil {
			if strings.Contains(err.Error(), "newer mealab") && !strings.Contains(err.Error(), "upgrade mealab") {
				t.Fatalf("newer-version error lacks advice: %v", err)
			}
			return
		}
		if doc.Format != SessionFormat || doc.Version < 1 || doc.Version > SessionVersion {
			t.Fatalf("accepted %+v", doc)
		}
		// What was accepted must survive a save and reload.
		b, err := json.Marshal(doc)
		if err != nil {
			return // For example a time outside the years JSON can encode.
		}
		again, err := parseSessionDoc(b, "session.json")
		if err != nil {
			t.Fatalf("re-encoded session.json rejected: %v\n%s", err, b)
		}
		var m1, m2 any
		if len(doc.Meta) > 0 {
			if json.Unmarshal(doc.Meta, &m1) != nil || json.Unmarshal(again.Meta, &m2) != nil || !reflect.DeepEqual(m1, m2) {
				t.Fatalf("meta changed: %s -> %s", doc.Meta, again.Meta)
			}
		}
	})
}
