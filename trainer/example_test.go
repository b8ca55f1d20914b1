package trainer_test

import (
	"fmt"

	"github.com/mealab/mealab/model"
	"github.com/mealab/mealab/trainer"
)

// A viewer pulls what changed at its own pace. Here it waits for each
// change; a screen would wait for its next frame instead.
func ExampleLab_Since() {
	lab := trainer.NewLab(trainer.Options{})
	defer lab.Close()
	cfg := model.Config{Vocab: 32, Context: 16, Layers: 1, Width: 16, Heads: 2, MLP: 32, Seed: 1}
	_, err := lab.Add(trainer.RunSpec{Name: "tiny", Model: cfg, Batch: 2,
		Sched: model.Schedule{Peak: 1e-3, Total: 5}, DataSeed: 1})
	if err != nil {
		panic(err)
	}
	var cur trainer.Cursor
	points := map[trainer.RunID]int{}
	for {
		finished := lab.AllFinished() // the pull after this holds the end
		ch := lab.Since(cur)
		cur = ch.Next
		for _, rc := range ch.Runs {
			if rc.Reset {
				points[rc.Info.ID] = 0
			}
			points[rc.Info.ID] += len(rc.Points)
		}
		if finished {
			for _, rc := range lab.Since(trainer.Cursor{}).Runs {
				fmt.Printf("%s: %s at step %d, %d points pulled\n", rc.Info.Name, rc.Info.State, rc.Info.Step, points[rc.Info.ID])
			}
			return
		}
		<-lab.Changed(cur.Version)
	}
	// Output: tiny: done at step 5, 5 points pulled
}
