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
// Each run is locked for this process (sessions.Run.Lock) so that a run is
// never trained by two processes at once (a resubmission while the first
// task still runs fails instead); release drops the locks. It returns
// warnings for the person.
func StartRuns(sess *sessions.Session, lab *trainer.Lab, rec *record.Recorder, runs []Run) (release func(), warnings []string, err error) {
	var locks []func()
	release = func() {
		for _, l := range locks {
			l()
		}
	}
	for _, r := range runs {
		sr, err := sess.OpenRun(r.Dir)
		if errors.Is(err, sessions.ErrNotFound) {
			sr, err = sess.CreateRun(r.Dir, record.RunMeta{ID: r.ID, Name: r.Name, Config: r.Spec, State: trainer.Running.String()})
			if errors.Is(err, sessions.ErrExists) {
				sr, err = sess.OpenRun(r.Dir)
			}
		}
		if err != nil {
			return release, warnings, fmt.Errorf("run %s: %w", r.Name, err)
		}
		unlock, err := sr.Lock()
		if err != nil {
			return release, warnings, err
		}
		locks = append(locks, unlock)
		ld, err := record.LoadRun(sess, r.Dir)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("run %s: %v; it starts again from step 0", r.Name, err))
		} else {
			warnings = append(warnings, ld.Warnings...)
			ok, err := record.ResumeRun(sess, lab, rec, ld)
			if err != nil {
				return release, warnings, err
			}
			if ok {
				continue
			}
			if len(ld.History.Points) > 0 {
				warnings = append(warnings, fmt.Sprintf("run %s had no readable checkpoint; it starts again from step 0", r.Name))
			}
		}
		if _, err := lab.AddAs(r.ID, r.Spec); err != nil {
			return release, warnings, fmt.Errorf("run %s: %w", r.Name, err)
		}
	}
	return release, warnings, nil
}
