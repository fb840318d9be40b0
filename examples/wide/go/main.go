// WideFlow in Go: doubles 0..n in parallel and adds the results up.
package main

import (
	"fmt"

	"mfw.dev/sdk"
)

var flow = mfw.NewFlow("WideFlow").
	Doc("Doubles 0..n in parallel and adds the results up.").
	Parameter(mfw.Param{Name: "n", Kind: mfw.Int, Default: 100, Help: "How many tasks to fan out to."}).
	Step("start", start, mfw.Foreach("double", "items")).
	Step("double", double, mfw.Next("join")).
	Join("join", join, mfw.Next("end")).
	Step("end", end)

func start(ctx *mfw.Context) error {
	var n int
	if err := ctx.Parameter("n", &n); err != nil {
		return err
	}
	items := make([]int, n)
	for i := range items {
		items[i] = i
	}
	if err := ctx.Set("items", items); err != nil {
		return err
	}
	return ctx.NextForeach("double", "items")
}

func double(ctx *mfw.Context) error {
	var input int64
	if err := ctx.Input(&input); err != nil {
		return err
	}
	if err := ctx.Set("y", 2*input); err != nil {
		return err
	}
	return ctx.Next("join")
}

func join(ctx *mfw.Context, inputs *mfw.Inputs) error {
	ys, err := mfw.Values[int64](inputs, "y")
	if err != nil {
		return err
	}
	var total int64
	for _, y := range ys {
		total += y
	}
	if err := ctx.Set("total", total); err != nil {
		return err
	}
	return ctx.Next("end")
}

func end(ctx *mfw.Context) error {
	var total int64
	if err := ctx.Get("total", &total); err != nil {
		return err
	}
	fmt.Println("total =", total)
	return nil
}

func init() { mfw.Export(flow) }

func main() {}
