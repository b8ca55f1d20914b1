package presets

import (
	"strings"
	"testing"
)

// A preset whose schedule cannot run is refused when it is expanded, before
// any run starts, with the operation and the reason.
func TestExpandRefusesImpossibleSchedules(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"[run mea]\nvariant = mea\nat = 600 gqa 2 fork\n", "compress it with SVD"},
		{"[run mha]\nvariant = mha\nsteps = 500\nat = 600 gqa 2 fork\n", "ends at step 500"},
		{"[run mha]\nvariant = mha\nat = 10 mea\nat = 20 gqa 2\n", "20 gqa 2"},
	} {
		p, err := Parse("t", []byte(tc.src))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Expand(Options{}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error with %q", tc.src, err, tc.want)
		}
	}
	// The shipped presets all pass.
	for _, name := range Names() {
		p, err := Load(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Expand(Options{Overrides: []Setting{{Key: "data", Value: "synthetic"}}}); err != nil {
			t.Errorf("preset %s: %v", name, err)
		}
	}
}
