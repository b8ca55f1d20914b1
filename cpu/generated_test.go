package cpu

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// TestGeneratedAssemblyIsCurrent: every generator in this package writes
// exactly the assembly file that is committed, so a change to a generator
// that was not regenerated (or a hand edit of its output) fails here.
func TestGeneratedAssemblyIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the generators")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	for gen, file := range map[string]string{"gen_kernel.go": "kernel_amd64.s", "gen_exp.go": "exp_amd64.s"} {
		t.Run(gen, func(t *testing.T) {
			cmd := exec.Command(gobin, "run", gen)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			got, err := cmd.Output()
			if err != nil {
				t.Fatalf("go run %s: %v\n%s", gen, err, stderr.String())
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				line := 1 + bytes.Count(want[:commonPrefix(got, want)], []byte("\n"))
				t.Fatalf("go run %s differs from the committed %s from line %d on; regenerate it: go run %s > %s", gen, file, line, gen, file)
			}
		})
	}
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
