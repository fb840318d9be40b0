// Package registry connects the generated export bindings to the flow the
// program registered with mfw.Export, without an import cycle.
package registry

import (
	witTypes "go.bytecodealliance.org/pkg/wit/types"

	"mfw.dev/sdk/internal/wit/mfw_flow_types"
)

// Graph returns the registered flow's graph; set by mfw.Export.
var Graph func() mfw_flow_types.FlowGraph

// RunStep runs one step of the registered flow; set by mfw.Export.
var RunStep func(step string) witTypes.Result[witTypes.Unit, mfw_flow_types.StepError]
