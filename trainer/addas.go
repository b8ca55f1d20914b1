package trainer

import "fmt"

// AddAs is Add with the run's id chosen by the caller: a sweep task that
// trains run 17 of a grid alone gives it id 17, so its id and session
// directory are those it has when the whole grid trains in one lab. It
// fails if the id is taken. Do not call it concurrently with Add.
func (l *Lab) AddAs(id RunID, spec RunSpec) (RunID, error) {
	if id <= 0 {
		return 0, fmt.Errorf("run id %d: ids start at 1", id)
	}
	var prev RunID
	if err := l.exec(func() error {
		if _, err := l.find(id); err == nil {
			return fmt.Errorf("run id %d is taken in this lab", id)
		}
		prev, l.nextID = l.nextID, id
		return nil
	}); err != nil {
		return 0, err
	}
	got, err := l.Add(spec)
	_ = l.exec(func() error {
		l.nextID = max(prev, id+1)
		for _, r := range l.runs {
			l.nextID = max(l.nextID, r.id+1)
		}
		return nil
	})
	if err == nil && got != id {
		return got, fmt.Errorf("run %s got id %d, not %d (a concurrent Add?)", spec.Name, got, id)
	}
	return got, err
}
