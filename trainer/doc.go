// Package trainer runs training: one run (a model, its optimiser, its data
// stream and schedule) and a Lab of runs stepped side by side in lock-step
// on the same batches. Commands reach a Lab through methods that are safe to
// call from any goroutine; metrics leave it on a channel that never blocks
// training. The package never imports a UI or touches files beyond reading a
// --data text file: sessions record through Options.Sink.
package trainer
