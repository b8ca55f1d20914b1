package main

import (
	"fmt"
	"io"

	"github.com/mealab/mealab/presets"
	"github.com/mealab/mealab/record"
	"github.com/mealab/mealab/sessions"
	"github.com/mealab/mealab/trainer"
)

// printSessionPreset writes a session's runs as preset text: what each run
// was started as (with the --set overrides it ran with) and the surgery it
// went through, so `mealab train --preset FILE` trains them again. The runs'
// configs are the ones each run.json keeps.
func printSessionPreset(w io.Writer, sess *sessions.Session, preset string) error {
	runs, err := record.Load(sess)
	if err != nil {
		return err
	}
	session := sess.Name()
	byID := map[trainer.RunID]string{}
	for _, ld := range runs {
		byID[ld.Meta.ID] = ld.Meta.Name
	}
	var lr []presets.LabRun
	var notes []string
	for _, ld := range runs {
		if ld.Meta.Config.Model.Layers == 0 {
			notes = append(notes, fmt.Sprintf("run %s: its run.json holds no config; left out", ld.Meta.Name))
			continue
		}
		s := ld.Meta.Config
		s.Name = ld.Meta.Name
		if len(s.Applied) == 0 && ld.Meta.Parent == 0 {
			for _, e := range ld.History.Events {
				if e.Kind == "surgery" {
					notes = append(notes, fmt.Sprintf("run %s: had surgery at step %d (%s) that this session, recorded before runs kept their surgery, does not list as an operation; written with its model after it", s.Name, e.Step, e.Detail))
					break
				}
			}
		}
		lr = append(lr, presets.LabRun{Spec: s, Parent: byID[ld.Meta.Parent]})
	}
	if len(lr) == 0 {
		return fmt.Errorf("session %s has no runs to write as a preset", session)
	}
	text, more := presets.Format(session, fmt.Sprintf("the runs of session %s, started from preset %s", session, preset), lr)
	for _, n := range append(notes, more...) {
		fmt.Fprintf(w, "# note: %s\n", n)
	}
	_, err = w.Write(text)
	return err
}
