// Package trainer runs training: one run (a model, its optimiser, its data
// stream and schedule) and a Lab of runs stepped side by side in lock-step
// on the same batches. Commands reach a Lab through methods that are safe to
// call from any goroutine. The package never imports a UI or touches files
// beyond reading a --data text file: sessions record through Options.Sink.
//
// # Lock-step
//
// The lab steps in rounds: every running run makes one step, then the next
// round starts. Commands (pause, surgery, a new run) run between two steps.
// So at any moment the runs that started together are at most one step
// apart (those already stepped in the round under way are one ahead), and
// runs that share a DataSeed see the same batches in the same order. Runs
// added with one AddAll start in the same round; runs added one by one
// start as many rounds apart as the lab stepped in between.
//
// # Two ways out: pushed to the recorder, pulled by viewers
//
// The recorder is pushed: Options.Sink is called on the lab's goroutine
// with every update (Point, EvalPoint, Event, Sample, RunInfo), in the
// order they happen, none dropped or merged. Training waits for it, so it
// must be quick (sessions buffer their lines). Nothing of a run reaches it
// after the run's "removed" event.
//
// Viewers pull. The lab keeps a Journal: per run its current RunInfo and
// a bounded history. A viewer holds a Cursor (the zero Cursor has seen
// nothing) and, at its own frame rate, calls
//
//	ch := lab.Since(cur) // what changed after cur; never waits for a step
//	cur = ch.Next
//
// Changes lists every run in the lab's order with its RunInfo as the lab
// has it now (step, loss, state) and what the viewer does not hold yet:
// points, evaluations, events and samples in order. A run with Reset set is
// new to the viewer or had its history thinned: the viewer replaces its copy
// with what came. A run the viewer holds that is not listed was removed.
// Same says nothing changed (the cost is one comparison); Closed says the
// lab stopped. The lab keeps no state per viewer, so any number of viewers
// at any speeds (a terminal at 10 frames a second, thirty SSH followers, a
// log printer) cost training only the copy of what each asks for, and one
// that stops reading costs nothing.
//
// To draw only when something changed, wait on Changed(cur.Version), which
// is closed at the next change (or when the lab stops); cap the rate with a
// ticker. Tail turns pulls into a stream of updates for viewers that print
// lines (the headless log). A Journal can also be filled by hand (Add, Put,
// SetInfo, Remove) to serve a scripted or remote lab through the same
// protocol.
//
// Memory per run is bounded (Options.HistoryLimit, DefaultHistoryLimit
// points): beyond it the older points and evaluations are thinned to an
// even spread, keeping the first point, the newest quarter at full
// resolution, every event and the newest samples. Sessions keep
// everything on disk.
//
// # Devices
//
// A run with Device "cuda" trains through an Engine (the CUDA build, or the
// emulator of its kernels with -tags cudaemu). The host copy of its weights
// is brought up to date only when needed: samples, checkpoints and surgery
// copy weights and AdamW moments; the Heads view copies only the mixing
// matrices of one layer and one head's attention map from the activations
// the device keeps. A checkpoint whose weights cannot be copied back is not
// written (an error event says so).
package trainer
