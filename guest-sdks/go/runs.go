package mfw

import (
	"fmt"

	"mfw.dev/sdk/encoding"
	"mfw.dev/sdk/internal/wit/mfw_flow_runs"
)

// Other flows' runs, read-only: Metaflow's client inside a step. The host
// answers each read and records it with the task, so the cache reuses the
// task only while those runs read the same, and replay gives it what it
// read then (see docs/multi-flow.md).

// ReadError is a read of other runs the host refused: Kind is NotFound,
// InvalidName or StorageError.
type ReadError struct {
	Kind    string
	Message string
}

func (e *ReadError) Error() string { return e.Message }

func readError(e mfw_flow_runs.ReadError) error {
	switch e.Tag() {
	case mfw_flow_runs.ReadErrorNotFound:
		return &ReadError{"NotFound", e.NotFound()}
	case mfw_flow_runs.ReadErrorInvalidName:
		return &ReadError{"InvalidName", e.InvalidName()}
	default:
		return &ReadError{"StorageError", e.Storage()}
	}
}

// FlowRuns is the runs of one flow, newest first, in a namespace: by
// default `user:` whoever started this run, as in Metaflow.
//
//	flow, err := mfw.ReadFlow("TrainFlow")
//	if err != nil {
//		return err
//	}
//	run, err := flow.LatestSuccessfulRun()
//	if err != nil || run == nil {
//		return fmt.Errorf("no model yet: %v", err)
//	}
//	var weights []float64
//	err = run.Get("end", "weights", &weights)
type FlowRuns struct {
	Name      string
	ids       []string
	namespace *string
}

// ReadFlow reads flow name's runs in the default namespace; an error if it
// has none.
func ReadFlow(name string) (*FlowRuns, error) {
	ids := mfw_flow_runs.RunIds(name)
	if ids.IsErr() {
		return nil, readError(ids.Err())
	}
	ns := mfw_flow_runs.DefaultNamespace()
	if ns.IsErr() {
		return nil, readError(ns.Err())
	}
	namespace := ns.Ok()
	return &FlowRuns{Name: name, ids: ids.Ok(), namespace: &namespace}, nil
}

// InNamespace reads the flow in another namespace (`user:alice`), or in
// every one with nil.
func (f *FlowRuns) InNamespace(namespace *string) *FlowRuns {
	f.namespace = namespace
	return f
}

// Runs returns every run in the namespace, newest first.
func (f *FlowRuns) Runs() ([]*RunData, error) {
	var runs []*RunData
	err := f.each(func(r *RunData) bool { runs = append(runs, r); return true })
	return runs, err
}

// LatestRun returns the newest run, or nil.
func (f *FlowRuns) LatestRun() (*RunData, error) {
	var latest *RunData
	err := f.each(func(r *RunData) bool { latest = r; return false })
	return latest, err
}

// LatestSuccessfulRun returns the newest run that succeeded, or nil.
func (f *FlowRuns) LatestSuccessfulRun() (*RunData, error) {
	var latest *RunData
	err := f.each(func(r *RunData) bool {
		if r.Successful() {
			latest = r
			return false
		}
		return true
	})
	return latest, err
}

// Run reads run id, whatever its namespace.
func (f *FlowRuns) Run(id string) (*RunData, error) {
	r := mfw_flow_runs.Run(f.Name, id)
	if r.IsErr() {
		return nil, readError(r.Err())
	}
	s := r.Ok()
	run := &RunData{
		Flow: s.Flow, ID: s.Id, Status: s.Status, StartedMs: s.StartedMs,
		UserTags: s.UserTags, SystemTags: s.SystemTags, Steps: s.Steps,
		parameters: map[string]string{},
	}
	for _, p := range s.Parameters {
		run.parameters[p.F0] = p.F1
	}
	return run, nil
}

// each calls visit with each run in the namespace, newest first, until it
// returns false.
func (f *FlowRuns) each(visit func(*RunData) bool) error {
	for _, id := range f.ids {
		run, err := f.Run(id)
		if err != nil {
			return err
		}
		if run.inNamespace(f.namespace) && !visit(run) {
			return nil
		}
	}
	return nil
}

// RunData is one run of another flow.
type RunData struct {
	Flow       string
	ID         string
	Status     string // running, succeeded, failed or interrupted
	StartedMs  uint64
	UserTags   []string
	SystemTags []string
	Steps      []string // its graph's steps, in order
	parameters map[string]string
}

// Successful says whether every task succeeded.
func (r *RunData) Successful() bool { return r.Status == "succeeded" }

func (r *RunData) inNamespace(namespace *string) bool {
	// Runs recorded before mfw tagged runs belong to every namespace.
	if namespace == nil || len(r.SystemTags) == 0 {
		return true
	}
	for _, tags := range [][]string{r.SystemTags, r.UserTags} {
		for _, t := range tags {
			if t == *namespace {
				return true
			}
		}
	}
	return false
}

// Parameter decodes the run's parameter name into v.
func (r *RunData) Parameter(name string, v any) error {
	hash, ok := r.parameters[name]
	if !ok {
		return &ReadError{"NotFound", fmt.Sprintf("run %s/%s has no parameter %q", r.Flow, r.ID, name)}
	}
	return readValue(hash, v)
}

// Get decodes artifact name of the first task of step (the only one
// outside a foreach) into v.
func (r *RunData) Get(step, name string, v any) error {
	tasks := mfw_flow_runs.Tasks(r.Flow, r.ID, step)
	if tasks.IsErr() {
		return readError(tasks.Err())
	}
	list := tasks.Ok()
	if len(list) == 0 {
		return &ReadError{"NotFound", fmt.Sprintf("run %s/%s has no task of step %q", r.Flow, r.ID, step)}
	}
	for _, a := range list[0].Artifacts {
		if a.F0 == name {
			return readValue(a.F1, v)
		}
	}
	return &ReadError{"NotFound", fmt.Sprintf("task %s/%s/%s/%s has no artifact %q", r.Flow, r.ID, step, list[0].Id, name)}
}

func readValue(hash string, v any) error {
	resume := pauseGC()
	bytes := mfw_flow_runs.ValueByHash(hash)
	resume()
	if bytes.IsErr() {
		return readError(bytes.Err())
	}
	return encoding.Unmarshal(bytes.Ok(), v)
}

// Trigger is what started a run of a deployed flow (Metaflow's
// `current.trigger`): Kind is "run" (Flow and RunID name the run that
// succeeded) or "event" (Event and its Payload, a JSON object's text).
type Trigger struct {
	Kind    string
	Flow    string
	RunID   string
	Event   string
	Payload string
}

// CurrentTrigger returns what started this run, or nil when a user did.
//
//	if t, err := mfw.CurrentTrigger(); err == nil && t != nil && t.Kind == "run" {
//		up, _ := mfw.ReadFlow(t.Flow)
//		run, _ := up.Run(t.RunID)
//		...
//	}
func CurrentTrigger() (*Trigger, error) {
	r := mfw_flow_runs.Trigger()
	if r.IsErr() {
		return nil, readError(r.Err())
	}
	info := r.Ok()
	if info.IsNone() {
		return nil, nil
	}
	t := info.Some()
	return &Trigger{
		Kind:    t.Kind,
		Flow:    t.Flow.SomeOr(""),
		RunID:   t.RunId.SomeOr(""),
		Event:   t.Event.SomeOr(""),
		Payload: t.Payload.SomeOr(""),
	}, nil
}
