// Package mfw writes mfw flows in Go: each step is a Go function that
// reads and writes artifacts through a Context and says where the flow
// goes next. `mfw run <dir>` builds the module for wasip1 and runs it as a
// sandboxed WebAssembly component.
//
//	var flow = mfw.NewFlow("HelloFlow").
//		Step("start", start, mfw.Next("end")).
//		Step("end", end)
//
//	func start(ctx *mfw.Context) error {
//		if err := ctx.Set("x", 1); err != nil {
//			return err
//		}
//		return ctx.Next("end")
//	}
//
//	func init() { mfw.Export(flow) }
//	func main() {}
//
// Values travel in the mfw encoding (see docs/encoding.md), so Rust and
// Python steps read what Go steps write.
package mfw

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	witTypes "go.bytecodealliance.org/pkg/wit/types"

	"mfw.dev/sdk/encoding"
	"mfw.dev/sdk/internal/registry"
	"mfw.dev/sdk/internal/wit/mfw_flow_artifacts"
	"mfw.dev/sdk/internal/wit/mfw_flow_control"
	"mfw.dev/sdk/internal/wit/mfw_flow_logging"
	"mfw.dev/sdk/internal/wit/mfw_flow_task_info"
	"mfw.dev/sdk/internal/wit/mfw_flow_types"

	// Links the component's exports into every flow program.
	_ "mfw.dev/sdk/internal/wit/wit_exports"
)

// Version is the SDK version recorded in every graph.
const Version = "0.1.0"

// StepFunc is a step: it reads and writes artifacts through ctx and ends
// with ctx.Next (except `end`). A returned error fails the task.
type StepFunc func(ctx *Context) error

// JoinFunc is a join step: it also gets the inputs of its branches.
type JoinFunc func(ctx *Context, inputs *Inputs) error

// Kind is how `mfw run` reads a parameter's command-line value.
type Kind string

// Parameter kinds.
const (
	Str   Kind = "str"
	Int   Kind = "int"
	Float Kind = "float"
	Bool  Kind = "bool"
	JSON  Kind = "json"
	File  Kind = "file"
)

// Param declares a run parameter, readable in every step with
// ctx.Parameter.
type Param struct {
	Name     string
	Kind     Kind
	Default  any // nil: no default
	Required bool
	Help     string
}

// Decorator is a Metaflow decorator recorded in the graph (retry, catch,
// timeout, resources, kubernetes, ...). Option values become JSON.
type Decorator struct {
	Name    string
	Options map[string]any
}

// Retry is @retry(times=n).
func Retry(times int) Decorator {
	return Decorator{Name: "retry", Options: map[string]any{"times": times}}
}

// Catch is @catch(var=name).
func Catch(variable string) Decorator {
	return Decorator{Name: "catch", Options: map[string]any{"var": variable}}
}

// Timeout is @timeout(seconds=s).
func Timeout(seconds int) Decorator {
	return Decorator{Name: "timeout", Options: map[string]any{"seconds": seconds}}
}

// Cache is @cache(enabled): false always runs the step; true caches its
// tasks even when its grants let it see the outside world. Without it, a
// task is taken from the cache when an earlier one had the same task key,
// unless the step is granted the clock, randomness, the network, files or
// environment variables.
//
//	flow.Step("fetch", fetch, mfw.Next("end"), mfw.With(mfw.Cache(false)))
func Cache(enabled bool) Decorator {
	return Decorator{Name: "cache", Options: map[string]any{"enabled": enabled}}
}

// Resources is @resources(memory=MB, cpu=n).
func Resources(memoryMB int, cpu int) Decorator {
	return Decorator{Name: "resources", Options: map[string]any{"memory": memoryMB, "cpu": cpu}}
}

// StepOption configures a step when it is added to a flow.
type StepOption func(*stepDef)

// Next declares where the step goes: one step, or several for a split.
func Next(steps ...string) StepOption {
	return func(s *stepDef) { s.next = steps }
}

// Foreach declares a fan-out: one task of step per item of the list
// artifact over.
func Foreach(step, over string) StepOption {
	return func(s *stepDef) {
		s.next = []string{step}
		s.foreach = over
	}
}

// SwitchCase is one case of a switch: the condition's value and the step
// it goes to. Make one with [Case].
type SwitchCase struct {
	value any
	step  string
}

// Case is a switch's case: when the condition artifact equals value (a
// string, an integer or a bool), the step goes to step.
func Case(value any, step string) SwitchCase {
	return SwitchCase{value: value, step: step}
}

// Switch declares a conditional transition (Metaflow's
// self.next({"fast": self.quick, "slow": self.careful}, condition="mode")):
// the step goes to the one case that the artifact condition equals when it
// calls ctx.NextSwitch. A case may be the step itself, which then runs
// again, one task per round.
//
//	flow.Step("start", start, mfw.Switch("mode", mfw.Case("fast", "quick"), mfw.Case("slow", "careful")))
func Switch(condition string, cases ...SwitchCase) StepOption {
	return func(s *stepDef) {
		s.condition = condition
		s.cases = cases
		s.next = nil
		for _, c := range cases {
			if !slices.Contains(s.next, c.step) {
				s.next = append(s.next, c.step)
			}
		}
	}
}

// Doc documents the step.
func Doc(doc string) StepOption {
	return func(s *stepDef) { s.doc = doc }
}

// With adds decorators to the step.
func With(decorators ...Decorator) StepOption {
	return func(s *stepDef) { s.decorators = append(s.decorators, decorators...) }
}

type stepDef struct {
	name       string
	run        StepFunc
	join       JoinFunc
	next       []string
	foreach    string
	condition  string
	cases      []SwitchCase
	decorators []Decorator
	doc        string
	source     string
}

// Flow is a flow's definition: its steps, parameters and decorators.
type Flow struct {
	name       string
	doc        string
	steps      []*stepDef
	params     []Param
	decorators []Decorator
	problems   []string
}

// NewFlow starts a flow definition.
func NewFlow(name string) *Flow {
	return &Flow{name: name}
}

// Doc documents the flow.
func (f *Flow) Doc(doc string) *Flow {
	f.doc = doc
	return f
}

// Decorate adds flow decorators (schedule, project, ...).
func (f *Flow) Decorate(decorators ...Decorator) *Flow {
	f.decorators = append(f.decorators, decorators...)
	return f
}

// Parameter declares a run parameter.
func (f *Flow) Parameter(p Param) *Flow {
	f.params = append(f.params, p)
	return f
}

func caller() string {
	_, file, line, ok := runtime.Caller(2)
	if !ok {
		return ""
	}
	return fmt.Sprintf("%s:%d", file, line)
}

// Step adds a step.
func (f *Flow) Step(name string, run StepFunc, options ...StepOption) *Flow {
	s := &stepDef{name: name, run: run, source: caller()}
	for _, option := range options {
		option(s)
	}
	f.steps = append(f.steps, s)
	return f
}

// Join adds a join step, which gets the inputs of its branches.
func (f *Flow) Join(name string, run JoinFunc, options ...StepOption) *Flow {
	s := &stepDef{name: name, join: run, source: caller()}
	for _, option := range options {
		option(s)
	}
	f.steps = append(f.steps, s)
	return f
}

func decorators(list []Decorator) []mfw_flow_types.Decorator {
	out := make([]mfw_flow_types.Decorator, 0, len(list))
	for _, d := range list {
		keys := make([]string, 0, len(d.Options))
		for k := range d.Options {
			keys = append(keys, k)
		}
		// Stable order, as the graph is compared across builds.
		sortStrings(keys)
		options := make([]witTypes.Tuple2[string, string], 0, len(keys))
		for _, k := range keys {
			text, err := json.Marshal(d.Options[k])
			if err != nil {
				text = []byte(fmt.Sprintf("%q", fmt.Sprint(d.Options[k])))
			}
			options = append(options, witTypes.Tuple2[string, string]{F0: k, F1: string(text)})
		}
		out = append(out, mfw_flow_types.Decorator{Name: d.Name, Options: options})
	}
	return out
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// switchDecorator is how a switch reaches the host (wit/flow.wit): the
// decorator `switch` with the condition as a JSON string and the cases as
// [[case as JSON text, step], ...].
func (s *stepDef) switchDecorator() []mfw_flow_types.Decorator {
	if s.cases == nil {
		return nil
	}
	cases := make([][2]string, len(s.cases))
	for i, c := range s.cases {
		switch c.value.(type) {
		case string, bool, int, int32, int64, uint32:
		default:
			panic(fmt.Sprintf("step %q: switch case %#v is not a string, integer or bool", s.name, c.value))
		}
		text, _ := json.Marshal(c.value)
		cases[i] = [2]string{string(text), c.step}
	}
	condition, _ := json.Marshal(s.condition)
	listed, _ := json.Marshal(cases)
	return []mfw_flow_types.Decorator{{
		Name: "switch",
		Options: []witTypes.Tuple2[string, string]{
			{F0: "condition", F1: string(condition)},
			{F0: "cases", F1: string(listed)},
		},
	}}
}

func (f *Flow) graph() mfw_flow_types.FlowGraph {
	steps := make([]mfw_flow_types.Step, 0, len(f.steps))
	for _, s := range f.steps {
		foreach := witTypes.None[string]()
		if s.foreach != "" {
			foreach = witTypes.Some(s.foreach)
		}
		next := s.next
		if next == nil {
			next = []string{}
		}
		steps = append(steps, mfw_flow_types.Step{
			Name:       s.name,
			Next:       next,
			Foreach:    foreach,
			Join:       s.join != nil,
			Decorators: append(decorators(s.decorators), s.switchDecorator()...),
			Doc:        s.doc,
			Source:     s.source,
		})
	}
	params := make([]mfw_flow_types.Parameter, 0, len(f.params))
	for _, p := range f.params {
		def := witTypes.None[[]uint8]()
		if p.Default != nil {
			encoded, err := encoding.Marshal(p.Default)
			if err != nil {
				panic(fmt.Sprintf("the default of parameter %q cannot be encoded: %v", p.Name, err))
			}
			def = witTypes.Some(encoded)
		}
		params = append(params, mfw_flow_types.Parameter{
			Name: p.Name, Kind: string(p.Kind), Default: def, Required: p.Required, Help: p.Help,
		})
	}
	return mfw_flow_types.FlowGraph{
		Name:       f.name,
		Steps:      steps,
		Parameters: params,
		Decorators: decorators(f.decorators),
		Doc:        f.doc,
		Sdk:        "mfw-go/" + Version,
	}
}

// StepError is an error with a kind, shown like an exception class.
type StepError struct {
	Kind    string
	Message string
}

func (e *StepError) Error() string { return e.Message }

func kindOf(err error) string {
	var se *StepError
	if errors.As(err, &se) {
		return se.Kind
	}
	name := fmt.Sprintf("%T", err)
	name = strings.TrimPrefix(name, "*")
	if i := strings.LastIndex(name, "."); i >= 0 {
		name = name[i+1:]
	}
	return name
}

func (f *Flow) runStep(name string) (result witTypes.Result[witTypes.Unit, mfw_flow_types.StepError]) {
	var step *stepDef
	for _, s := range f.steps {
		if s.name == name {
			step = s
		}
	}
	if step == nil {
		return witTypes.Err[witTypes.Unit](mfw_flow_types.StepError{
			Kind: "UnknownStep", Message: fmt.Sprintf("this component has no step %q", name),
		})
	}
	defer func() {
		if p := recover(); p != nil {
			// Tell the host why, then trap: a panic is a crash, not an error.
			message := fmt.Sprint(p)
			mfw_flow_logging.Fatal(message)
			mfw_flow_logging.Log(mfw_flow_logging.LevelError, "panic: "+message+"\n"+string(debug.Stack()))
			panic(p)
		}
	}()
	ctx := &Context{step: step}
	var err error
	if step.join != nil {
		err = step.join(ctx, newInputs())
	} else {
		err = step.run(ctx)
	}
	if err == nil {
		err = ctx.storeCards()
	}
	if err != nil {
		return witTypes.Err[witTypes.Unit](mfw_flow_types.StepError{
			Kind: kindOf(err), Message: err.Error(),
		})
	}
	return witTypes.Ok[witTypes.Unit, mfw_flow_types.StepError](witTypes.Unit{})
}

// Export makes f the flow this component provides. Call it from init.
func Export(f *Flow) {
	registry.Graph = f.graph
	registry.RunStep = f.runStep
}

// ArtifactError is the host refusing an artifact operation.
type ArtifactError struct {
	Kind    string
	Message string
}

func (e *ArtifactError) Error() string { return e.Message }

func artifactError(e mfw_flow_types.ArtifactError) error {
	switch e.Tag() {
	case mfw_flow_types.ArtifactErrorNotFound:
		return &ArtifactError{"ArtifactNotFound", e.NotFound()}
	case mfw_flow_types.ArtifactErrorInvalidName:
		return &ArtifactError{"InvalidArtifactName", e.InvalidName()}
	case mfw_flow_types.ArtifactErrorInvalidValue:
		return &ArtifactError{"InvalidArtifactValue", e.InvalidValue()}
	case mfw_flow_types.ArtifactErrorTooLarge:
		return &ArtifactError{"ArtifactTooLarge", fmt.Sprintf("the value is larger than the limit of %d bytes", e.TooLarge())}
	case mfw_flow_types.ArtifactErrorNoSuchInput:
		return &ArtifactError{"NoSuchInput", fmt.Sprintf("this join has %d inputs", e.NoSuchInput())}
	default:
		return &ArtifactError{"StorageError", e.Storage()}
	}
}

// Context is a running task's view of the flow.
type Context struct {
	cards map[string][]map[string]any
	step  *stepDef
}

// Get reads artifact name into v (a pointer): set earlier in this step, or
// inherited from the step before.
func (c *Context) Get(name string, v any) error {
	resume := pauseGC()
	r := mfw_flow_artifacts.Get(name)
	resume()
	if r.IsErr() {
		return artifactError(r.Err())
	}
	if err := encoding.Unmarshal(r.Ok(), v); err != nil {
		return fmt.Errorf("artifact %q: %w", name, err)
	}
	return nil
}

// Set sets artifact name; it is stored when the step succeeds.
func (c *Context) Set(name string, v any) error {
	data, err := encoding.Marshal(v)
	if err != nil {
		return fmt.Errorf("artifact %q: %w", name, err)
	}
	return setEncoded(name, data)
}

// Remove removes artifact name from this task and the steps after it.
func (c *Context) Remove(name string) error {
	r := mfw_flow_artifacts.Remove(name)
	if r.IsErr() {
		return artifactError(r.Err())
	}
	return nil
}

// Names lists the artifacts this task sees, sorted.
func (c *Context) Names() []string { return mfw_flow_artifacts.Names() }

// Has says whether artifact name is visible to this task.
func (c *Context) Has(name string) bool {
	for _, n := range mfw_flow_artifacts.Names() {
		if n == name {
			return true
		}
	}
	return false
}

// Input reads this task's item of the innermost foreach into v.
func (c *Context) Input(v any) error {
	input := mfw_flow_control.ForeachInput()
	if input.IsNone() {
		return &StepError{"NotInForeach", "this step does not run inside a foreach"}
	}
	return encoding.Unmarshal(input.Some(), v)
}

// Index is this task's index in the innermost foreach.
func (c *Context) Index() (int, bool) {
	index := mfw_flow_control.ForeachIndex()
	if index.IsNone() {
		return 0, false
	}
	return int(index.Some()), true
}

// ForeachFrame is one enclosing foreach, outermost first.
type ForeachFrame struct {
	Step, Over   string
	Index, Count int
}

// ForeachStack lists every enclosing foreach, outermost first.
func (c *Context) ForeachStack() []ForeachFrame {
	frames := mfw_flow_control.ForeachStack()
	out := make([]ForeachFrame, len(frames))
	for i, f := range frames {
		out[i] = ForeachFrame{Step: f.Step, Over: f.Over, Index: int(f.Index), Count: int(f.Count)}
	}
	return out
}

// Parameter reads the run's value of parameter name into v.
func (c *Context) Parameter(name string, v any) error {
	value := mfw_flow_control.Parameter(name)
	if value.IsNone() {
		return &StepError{"ParameterNotFound", fmt.Sprintf("the run has no value for parameter %q", name)}
	}
	return encoding.Unmarshal(value.Some(), v)
}

// Current is who the running task is.
type Current struct {
	FlowName, RunID, StepName, TaskID string
	RetryCount                        int
}

// Current says who the running task is.
func (c *Context) Current() Current {
	t := mfw_flow_task_info.Current()
	return Current{FlowName: t.Flow, RunID: t.RunId, StepName: t.Step, TaskID: t.TaskId, RetryCount: int(t.Attempt)}
}

// RunInfo is the run a task belongs to: who started it (its namespace is
// "user:" that), its tags (the user's and mfw's), and the run it resumed
// ("" if it is not a resumed run).
//
//	if slices.Contains(ctx.Run().Tags, "nightly") { ... }
type RunInfo struct {
	Username    string
	Tags        []string
	OriginRunID string
}

// Run says who started the run, its tags and its origin.
func (c *Context) Run() RunInfo {
	r := mfw_flow_task_info.Run()
	info := RunInfo{Username: r.User, Tags: r.Tags}
	if r.OriginRunId.IsSome() {
		info.OriginRunID = r.OriginRunId.Some()
	}
	return info
}

// Next continues to the given steps: exactly the step's declared Next.
func (c *Context) Next(steps ...string) error {
	if steps == nil {
		steps = []string{}
	}
	r := mfw_flow_control.Next(steps)
	if r.IsErr() {
		return &StepError{"InvalidNext", r.Err()}
	}
	return nil
}

// NextSwitch goes to the case of the step's [Switch] that its condition
// artifact equals, which this step (or one before it) set.
func (c *Context) NextSwitch() error {
	if c.step == nil || c.step.cases == nil {
		return &StepError{"InvalidNext", "NextSwitch is for a step declared with mfw.Switch(...)"}
	}
	var value any
	if err := c.Get(c.step.condition, &value); err != nil {
		return err
	}
	shown := make([]string, len(c.step.cases))
	for i, cs := range c.step.cases {
		if sameCase(cs.value, value) {
			return c.Next(cs.step)
		}
		shown[i] = fmt.Sprintf("%#v", cs.value)
	}
	return &StepError{"InvalidNext", fmt.Sprintf(
		"the switch's condition `%s` is %#v, which is none of its cases [%s]",
		c.step.condition, value, strings.Join(shown, ", "))}
}

// sameCase compares a case with a decoded value: integers of any Go type
// by value.
func sameCase(want, got any) bool {
	wantInt, wantIsInt := asInt64(want)
	gotInt, gotIsInt := asInt64(got)
	if wantIsInt || gotIsInt {
		return wantIsInt && gotIsInt && wantInt == gotInt
	}
	return want == got
}

func asInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint32:
		return int64(n), true
	default:
		return 0, false
	}
}

// NextForeach fans out: one task of step per item of the list artifact over.
func (c *Context) NextForeach(step, over string) error {
	r := mfw_flow_control.NextForeach(step, over)
	if r.IsErr() {
		return &StepError{"InvalidNext", r.Err()}
	}
	return nil
}

// MergeArtifacts takes every artifact the join's inputs agree on that this
// step has not set, except those excluded (Metaflow's merge_artifacts).
func (c *Context) MergeArtifacts(exclude ...string) error {
	if exclude == nil {
		exclude = []string{}
	}
	r := mfw_flow_artifacts.MergeArtifacts(exclude)
	if r.IsErr() {
		return &StepError{"MergeConflict", r.Err()}
	}
	return nil
}

// Level is how much a log message matters.
type Level = mfw_flow_logging.Level

// Log levels.
const (
	Debug = mfw_flow_logging.LevelDebug
	Info  = mfw_flow_logging.LevelInfo
	Warn  = mfw_flow_logging.LevelWarn
	Error = mfw_flow_logging.LevelError
)

// Log writes message to the task's log.
func (c *Context) Log(level Level, message string) { mfw_flow_logging.Log(level, message) }

// Inputs are a join's inputs: one per branch, or one per foreach item.
type Inputs struct {
	inputs []Input
}

// Input is one input of a join.
type Input struct {
	index uint32
	step  string
}

func newInputs() *Inputs {
	count := mfw_flow_artifacts.InputCount()
	in := &Inputs{inputs: make([]Input, 0, count)}
	for i := uint32(0); i < count; i++ {
		step := mfw_flow_artifacts.InputStep(i)
		name := ""
		if step.IsOk() {
			name = step.Ok()
		}
		in.inputs = append(in.inputs, Input{index: i, step: name})
	}
	return in
}

// Len is the number of inputs.
func (in *Inputs) Len() int { return len(in.inputs) }

// At is the input at index i.
func (in *Inputs) At(i int) Input { return in.inputs[i] }

// All lists the inputs in order.
func (in *Inputs) All() []Input { return in.inputs }

// Step is the input that came from step name (Metaflow's inputs.name).
func (in *Inputs) Step(name string) (Input, error) {
	var steps []string
	for _, input := range in.inputs {
		if input.step == name {
			return input, nil
		}
		steps = append(steps, input.step)
	}
	return Input{}, &StepError{"NoSuchInput", fmt.Sprintf("no input comes from step %q (inputs come from: %s)", name, strings.Join(steps, ", "))}
}

// StepName is the step the input came from.
func (i Input) StepName() string { return i.step }

// Get reads the input's artifact name into v.
func (i Input) Get(name string, v any) error {
	resume := pauseGC()
	r := mfw_flow_artifacts.InputGet(i.index, name)
	resume()
	if r.IsErr() {
		return artifactError(r.Err())
	}
	if err := encoding.Unmarshal(r.Ok(), v); err != nil {
		return fmt.Errorf("artifact %q of input %d (%s): %w", name, i.index, i.step, err)
	}
	return nil
}

// Names lists the input's artifacts, sorted.
func (i Input) Names() []string {
	r := mfw_flow_artifacts.InputNames(i.index)
	if r.IsErr() {
		return nil
	}
	return r.Ok()
}

// Values reads artifact name of every input, in order.
func Values[T any](in *Inputs, name string) ([]T, error) {
	out := make([]T, 0, in.Len())
	for _, input := range in.inputs {
		var v T
		if err := input.Get(name, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}
