// The Go step of the frames flow: reads the temperatures the Python start
// step stored as a numpy array.
package main

import (
	"math"

	"mfw.dev/sdk"
	"mfw.dev/sdk/encoding"
)

var flow = mfw.NewFlow("FramesFlow").
	Step("spread", spread, mfw.Next("end"), mfw.Doc("The range of the temperatures."))

func spread(ctx *mfw.Context) error {
	var temperatures encoding.NdArray
	if err := ctx.Get("temperatures", &temperatures); err != nil {
		return err
	}
	values, err := temperatures.Float64s()
	if err != nil {
		return err
	}
	low, high := math.Inf(1), math.Inf(-1)
	for _, v := range values {
		low, high = math.Min(low, v), math.Max(high, v)
	}
	if err := ctx.Set("spread", high-low); err != nil {
		return err
	}
	return ctx.Next("end")
}

func init() { mfw.Export(flow) }

func main() {}
