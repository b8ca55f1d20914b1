// Package tui is mealab's terminal interface: a Bubble Tea v2 program that
// watches a lab of training runs and steers them.
//
// The root Model is a small state machine (normal, a dialog, full help) that
// owns its children: the runs table, the loss chart, the KV-cache panel, the
// head-mixing heatmap with the attention map, and the samples view. Dialogs
// (confirm, learning rate, surgery, new run, preset picker) are components
// behind the dialog interface in dialog.go, one file each: while one is open
// the root routes keys and the answers to its lab calls to it and draws its
// view. It talks
// to the trainer only through the Lab interface declared in lab.go, always
// from inside tea.Cmds, because every lab call may wait for a training step.
// The UI pulls: at every frame tick (default 10 per second) a Cmd asks the
// lab what changed since the UI's cursor (trainer.Lab.Since) and the model
// takes the news into its own copy of the data, one pull at a time. The
// table shows each run's step and state as the lab has them at that pull.
// The lab never waits for the UI, and a slow terminal only pulls less often.
// Update draws the frame; View only returns it.
//
// Keybindings live in keys.go; the help bar shows the ones that apply in the
// current state and `?` shows them all. Tests drive Update as a pure function
// with a scripted fake lab and compare colour-free golden frames (go test
// ./tui -update rewrites them).
package tui
