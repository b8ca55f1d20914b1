//go:build amd64 && !purego

package cpu

import "golang.org/x/sys/cpu"

// mixRowAVX2 is one row of MixHeads: H output heads of d = 8*d8 floats.
//
//go:noescape
func mixRowAVX2(out, in, w *float32, G, H, d8, dBytes int)

// mixDWRowAVX2 adds one row's products to acc (G*H vectors of 8 partial
// sums): acc[(i*H+j)*8+lane] += sum over chunks c of in_i[8c+lane]*grad_j[8c+lane].
//
//go:noescape
func mixDWRowAVX2(acc, in, grad *float32, G, H, d8, dBytes int)

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		mixRowVec = mixRowAVX2
		mixDWRowVec = mixDWRowAVX2
	}
}
