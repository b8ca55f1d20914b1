package sweep

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/mealab/mealab/record"
	"github.com/mealab/mealab/sessions"
	"github.com/mealab/mealab/trainer"
)

// Task states a process records in its run's task.json.
const (
	TaskRunning     = "running"
	TaskDone        = "done"
	TaskDiverged    = "diverged"
	TaskInterrupted = "interrupted" // SIGTERM or Ctrl-C: checkpointed, resubmit to continue
	TaskFailed      = "failed"
)

// TaskRecord is task.json: what the process that trains a run says about
// itself. Only that process writes it.
type TaskRecord struct {
	State       string    `json:"state"`
	Step        int       `json:"step"`
	Steps       int       `json:"steps"`
	Detail      string    `json:"detail,omitempty"`
	Host        string    `json:"host"`
	PID         int       `json:"pid"`
	JobID       string    `json:"slurm_job_id,omitempty"`
	ArrayJobID  string    `json:"slurm_array_job_id,omitempty"`
	ArrayTaskID string    `json:"slurm_array_task_id,omitempty"`
	Started     time.Time `json:"started"`
	Updated     time.Time `json:"updated"`
}

// NewTaskRecord describes this process (with its Slurm ids, if any).
func NewTaskRecord() TaskRecord {
	host, _ := os.Hostname()
	now := time.Now().UTC()
	return TaskRecord{State: TaskRunning, Host: host, PID: os.Getpid(), JobID: os.Getenv("SLURM_JOB_ID"),
		ArrayJobID: os.Getenv("SLURM_ARRAY_JOB_ID"), ArrayTaskID: os.Getenv("SLURM_ARRAY_TASK_ID"), Started: now, Updated: now}
}

// SaveTask writes rec into the run directory dir of sess.
func SaveTask(sess *sessions.Session, dir string, rec TaskRecord) error {
	r, err := sess.OpenRun(dir)
	if err != nil {
		return err
	}
	rec.Updated = time.Now().UTC()
	return r.SaveTask(rec)
}

// LoadTask reads the task record of run directory dir; ok is false when
// there is none (the run or its record does not exist yet).
func LoadTask(sess *sessions.Session, dir string) (rec TaskRecord, ok bool, err error) {
	r, err := sess.OpenRun(dir)
	if err != nil {
		if errors.Is(err, sessions.ErrNotFound) {
			return rec, false, nil
		}
		return rec, false, err
	}
	ok, err = r.LoadTask(&rec)
	return rec, ok, err
}

// StartRuns puts the selected runs into the lab, each under its own id:
// a run with a checkpoint in the session continues from it exactly; one
// without starts from step 0. The session's other runs are not touched.
// It returns warnings for the person.
func StartRuns(sess *sessions.Session, lab *trainer.Lab, rec *record.Recorder, runs []Run) ([]string, error) {
	var warnings []string
	for _, r := range runs {
		ld, err := record.LoadRun(sess, r.Dir)
		switch {
		case errors.Is(err, sessions.ErrNotFound):
		case err != nil:
			warnings = append(warnings, fmt.Sprintf("run %s: %v; it starts again from step 0", r.Name, err))
		default:
			warnings = append(warnings, ld.Warnings...)
			ok, err := record.ResumeRun(sess, lab, rec, ld)
			if err != nil {
				return warnings, err
			}
			if ok {
				continue
			}
			if ld.Meta.ID != 0 {
				warnings = append(warnings, fmt.Sprintf("run %s had no readable checkpoint; it starts again from step 0", r.Name))
			}
		}
		if _, err := lab.AddAs(r.ID, r.Spec); err != nil {
			return warnings, fmt.Errorf("run %s: %w", r.Name, err)
		}
	}
	return warnings, nil
}
