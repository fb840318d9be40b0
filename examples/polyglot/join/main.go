// The Go step of the polyglot flow: picks the forest with the lowest error.
package main

import (
	"math"

	"mfw.dev/sdk"
)

var flow = mfw.NewFlow("PolyglotFlow").
	Join("join", join, mfw.Next("end"), mfw.Doc("Picks the forest with the lowest error."))

func join(ctx *mfw.Context, inputs *mfw.Inputs) error {
	best, bestTrees := math.Inf(1), 0
	for _, input := range inputs.All() {
		var rmse float64
		var trees int
		if err := input.Get("rmse", &rmse); err != nil {
			return err
		}
		if err := input.Get("trained_n_trees", &trees); err != nil {
			return err
		}
		if rmse < best {
			best, bestTrees = rmse, trees
		}
	}
	if err := ctx.Set("best_rmse", best); err != nil {
		return err
	}
	if err := ctx.Set("best_n_trees", bestTrees); err != nil {
		return err
	}
	// Who started the run, as every language's `current` tells it.
	if err := ctx.Set("joined_by", ctx.Run().Username); err != nil {
		return err
	}
	return ctx.Next("end")
}

func init() { mfw.Export(flow) }

func main() {}
