// Package export_mfw_flow_flow implements the component's `mfw:flow/flow`
// export (its name is the one the generated bindings expect) by handing
// each call to the flow registered with mfw.Export.
package export_mfw_flow_flow

import (
	witTypes "go.bytecodealliance.org/pkg/wit/types"

	"mfw.dev/sdk/internal/registry"
	"mfw.dev/sdk/internal/wit/mfw_flow_logging"
	"mfw.dev/sdk/internal/wit/mfw_flow_types"
)

const notRegistered = "this Go program registered no flow: call mfw.Export(flow) in an init function"

// Graph is the `graph` export.
func Graph() mfw_flow_types.FlowGraph {
	if registry.Graph == nil {
		mfw_flow_logging.Fatal(notRegistered)
		panic(notRegistered)
	}
	return registry.Graph()
}

// RunStep is the `run-step` export.
func RunStep(step string) witTypes.Result[witTypes.Unit, mfw_flow_types.StepError] {
	if registry.RunStep == nil {
		return witTypes.Err[witTypes.Unit](mfw_flow_types.StepError{
			Kind: "NoFlow", Message: notRegistered,
		})
	}
	return registry.RunStep(step)
}
