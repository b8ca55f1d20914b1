package numfmt

import (
	"math"
	"testing"
)

func TestFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Bytes(0), "0 B"}, {Bytes(1023), "1023 B"}, {Bytes(1024), "1.0 KiB"}, {Bytes(20480), "20.0 KiB"},
		{Bytes(3 << 19), "1.5 MiB"}, {Bytes(5 << 30), "5.0 GiB"},
		{Int(0), "0"}, {Int(999), "999"}, {Int(1234567), "1,234,567"}, {Int(-12480), "-12,480"},
		{Round(12479.6), "12,480"}, {Round(math.NaN()), "-"},
		{Loss(2.31449), "2.314"}, {Loss(math.NaN()), "-"}, {Loss(math.Inf(1)), "inf"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
