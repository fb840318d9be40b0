// HelloFlow in Go: start sets x, end increments and prints it.
package main

import (
	"fmt"

	"mfw.dev/sdk"
)

var flow = mfw.NewFlow("HelloFlow").
	Doc("A flow where start sets x and end increments and prints it.").
	Step("start", start, mfw.Next("end"), mfw.Doc("Sets x.")).
	Step("end", end, mfw.Doc("Increments x and says hello."))

func start(ctx *mfw.Context) error {
	if err := ctx.Set("x", 1); err != nil {
		return err
	}
	// A card: `mfw card get HelloFlow/<run>/start/0` writes it as a page.
	ctx.Card().Append(mfw.Markdown{Text: "x is **1**"}, mfw.ProgressBar{Max: 2, Value: 1, Label: "steps"})
	return ctx.Next("end")
}

func end(ctx *mfw.Context) error {
	var x int64
	if err := ctx.Get("x", &x); err != nil {
		return err
	}
	x++
	if err := ctx.Set("x", x); err != nil {
		return err
	}
	fmt.Println("Hello world! The value of x is", x)
	return nil
}

func init() { mfw.Export(flow) }

func main() {}
