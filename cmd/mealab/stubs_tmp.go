package main

import (
	"errors"

	"github.com/mealab/mealab/trainer"
)

type recorder struct{}

func (r *recorder) Record(trainer.Update)                {}
func (r *recorder) Bind(trainer.RunID, trainer.RunSpec)  {}
func (r *recorder) Observe(*trainer.Lab, trainer.Update) {}
func (r *recorder) Finish(*trainer.Lab)                  {}
func (r *recorder) Close() error                         { return nil }

// openRecorder is kept for lab.go until the TUI uses openSession.
func openRecorder(name, dir, preset string, specs []trainer.RunSpec) (*recorder, error) {
	if name != "" {
		return nil, errors.New("sessions in the lab are wired through openSession (session.go)")
	}
	return nil, nil
}
