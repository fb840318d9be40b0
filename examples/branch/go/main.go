// BranchFlow in Go: start -> (a, b) -> join -> end.
package main

import (
	"fmt"

	"mfw.dev/sdk"
)

var flow = mfw.NewFlow("BranchFlow").
	Step("start", start, mfw.Next("a", "b")).
	Step("a", branch(1, "from_a", "set in a"), mfw.Next("join")).
	Step("b", branch(2, "from_b", "set in b"), mfw.Next("join")).
	Join("join", join, mfw.Next("end")).
	Step("end", end)

func start(ctx *mfw.Context) error {
	if err := ctx.Set("greeting", "hello"); err != nil {
		return err
	}
	return ctx.Next("a", "b")
}

// branch makes one branch's step: it sets x and a note of its own.
func branch(x int, name, note string) mfw.StepFunc {
	return func(ctx *mfw.Context) error {
		if err := ctx.Set("x", x); err != nil {
			return err
		}
		if err := ctx.Set(name, note); err != nil {
			return err
		}
		return ctx.Next("join")
	}
}

func join(ctx *mfw.Context, inputs *mfw.Inputs) error {
	var a, b int64
	for _, in := range []struct {
		step string
		x    *int64
	}{{"a", &a}, {"b", &b}} {
		input, err := inputs.Step(in.step)
		if err != nil {
			return err
		}
		if err := input.Get("x", in.x); err != nil {
			return err
		}
	}
	if err := ctx.Set("total", a+b); err != nil {
		return err
	}
	// x differs between the branches, so it must be excluded.
	if err := ctx.MergeArtifacts("x"); err != nil {
		return err
	}
	return ctx.Next("end")
}

func end(ctx *mfw.Context) error {
	var greeting string
	var total int64
	if err := ctx.Get("greeting", &greeting); err != nil {
		return err
	}
	if err := ctx.Get("total", &total); err != nil {
		return err
	}
	fmt.Printf("%s: total = %d\n", greeting, total)
	return nil
}

func init() { mfw.Export(flow) }

func main() {}
