package sessions

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// JSONFloat is a float64 that survives JSON even when it is NaN or
// infinite, which encoding/json refuses to encode. A diverging run produces
// exactly those losses, and losing the line that records the divergence
// would hide the problem. Finite values encode as plain numbers; NaN and the
// infinities encode as the strings "NaN", "+Inf" and "-Inf". Use it for
// fields of metric structs passed to Run.AppendMetric.
type JSONFloat float64

// MarshalJSON implements json.Marshaler.
func (f JSONFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	switch {
	case math.IsNaN(v):
		return []byte(`"NaN"`), nil
	case math.IsInf(v, 1):
		return []byte(`"+Inf"`), nil
	case math.IsInf(v, -1):
		return []byte(`"-Inf"`), nil
	}
	return strconv.AppendFloat(nil, v, 'g', -1, 64), nil
}

// UnmarshalJSON implements json.Unmarshaler. It accepts numbers, the three
// special strings and null, which leaves the value unchanged.
func (f *JSONFloat) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "null":
		return nil
	case `"NaN"`:
		*f = JSONFloat(math.NaN())
		return nil
	case `"+Inf"`, `"Inf"`:
		*f = JSONFloat(math.Inf(1))
		return nil
	case `"-Inf"`:
		*f = JSONFloat(math.Inf(-1))
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("decode float: %s is not a number, \"NaN\", \"+Inf\" or \"-Inf\"", b)
	}
	*f = JSONFloat(v)
	return nil
}
