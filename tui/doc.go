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
// Metrics arrive on a channel that a Cmd reads and re-arms; the model takes
// every update into its own copy of the data at once, but redraws only on a
// capped tick (default 10 per second) or a key press, so a fast lab is never
// slowed by drawing. Update draws the frame; View only returns it.
//
// Keybindings live in keys.go; the help bar shows the ones that apply in the
// current state and `?` shows them all. Tests drive Update as a pure function
// with a scripted fake lab and compare colour-free golden frames (go test
// ./tui -update rewrites them).
package tui
