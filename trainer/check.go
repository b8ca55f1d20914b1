package trainer

import "fmt"

// Check reports, without allocating the run, what Add would refuse about
// spec: an invalid spec, data that cannot be opened, a vocabulary smaller
// than the data's, more memory than the machine has. Front ends call it
// before they print anything, so that a mistake in a flag is one message.
func Check(spec RunSpec) error {
	spec = spec.Normalized()
	if err := spec.Validate(); err != nil {
		return err
	}
	ds, err := spec.Data.Open(spec.SeqLen)
	if err != nil {
		return err
	}
	if ds.Vocab() > spec.Model.Vocab {
		return fmt.Errorf("the data has %d distinct tokens but the model's vocabulary is %d; set vocab to at least %d", ds.Vocab(), spec.Model.Vocab, ds.Vocab())
	}
	return checkMemory(spec)
}
