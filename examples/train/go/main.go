// TrainFlow in Go: Metaflow's n_trees example, one forest per size in
// parallel, keep the best.
package main

import (
	"fmt"
	"math"
	"sort"

	"mfw.dev/sdk"
)

var flow = mfw.NewFlow("TrainFlow").
	Doc("Trains a forest per size in parallel and keeps the lowest error.").
	Step("start", start, mfw.Foreach("train", "n_trees")).
	Step("train", train, mfw.Next("join"), mfw.With(mfw.Retry(2))).
	Join("join", join, mfw.Next("end")).
	Step("end", end)

// splitMix is a tiny deterministic generator: the same numbers everywhere.
type splitMix uint64

func (s *splitMix) next() float64 {
	*s += 0x9E3779B97F4A7C15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return float64((z^(z>>31))>>11) / float64(uint64(1)<<53)
}

type point struct{ x, y float64 }

func dataset(seed uint64, n int) []point {
	rng := splitMix(seed)
	out := make([]point, n)
	for i := range out {
		x := rng.next()
		out[i] = point{x, x*x + 0.1*(rng.next()-0.5)}
	}
	return out
}

// Stump is one regression stump: split point, value left, value right.
type Stump [3]float64

// Model is a bagged forest of stumps.
type Model struct {
	Stumps []Stump `mfw:"stumps"`
}

func fitStump(sample []point) Stump {
	sort.Slice(sample, func(i, j int) bool { return sample[i].x < sample[j].x })
	total := 0.0
	for _, p := range sample {
		total += p.y
	}
	best, stump := math.Inf(1), Stump{0.5, 0, 0}
	left := 0.0
	for i := 1; i < len(sample); i++ {
		left += sample[i-1].y
		ml, mr := left/float64(i), (total-left)/float64(len(sample)-i)
		sse := 0.0
		for j, p := range sample {
			m := mr
			if j < i {
				m = ml
			}
			sse += (p.y - m) * (p.y - m)
		}
		if sse < best {
			best, stump = sse, Stump{(sample[i-1].x + sample[i].x) / 2, ml, mr}
		}
	}
	return stump
}

func (m Model) predict(x float64) float64 {
	sum := 0.0
	for _, s := range m.Stumps {
		if x < s[0] {
			sum += s[1]
		} else {
			sum += s[2]
		}
	}
	return sum / float64(len(m.Stumps))
}

func start(ctx *mfw.Context) error {
	if err := ctx.Set("n_trees", []int{16, 32, 64}); err != nil {
		return err
	}
	return ctx.NextForeach("train", "n_trees")
}

func train(ctx *mfw.Context) error {
	var nTrees int
	if err := ctx.Input(&nTrees); err != nil {
		return err
	}
	data := dataset(1, 60)
	rng := splitMix(42)
	var model Model
	for t := 0; t < nTrees; t++ {
		sample := make([]point, len(data))
		for i := range sample {
			sample[i] = data[int(rng.next()*float64(len(data)))]
		}
		model.Stumps = append(model.Stumps, fitStump(sample))
	}
	test := dataset(2, 40)
	mse := 0.0
	for _, p := range test {
		d := model.predict(p.x) - p.y
		mse += d * d
	}
	if err := ctx.Set("rmse", math.Sqrt(mse/float64(len(test)))); err != nil {
		return err
	}
	if err := ctx.Set("model", model); err != nil {
		return err
	}
	return ctx.Next("join")
}

func join(ctx *mfw.Context, inputs *mfw.Inputs) error {
	rmses, err := mfw.Values[float64](inputs, "rmse")
	if err != nil {
		return err
	}
	best := math.Inf(1)
	for _, r := range rmses {
		best = math.Min(best, r)
	}
	if err := ctx.Set("rmses", rmses); err != nil {
		return err
	}
	if err := ctx.Set("best_rmse", best); err != nil {
		return err
	}
	return ctx.Next("end")
}

func end(ctx *mfw.Context) error {
	var best float64
	if err := ctx.Get("best_rmse", &best); err != nil {
		return err
	}
	fmt.Printf("best rmse: %.4f\n", best)
	return nil
}

func init() { mfw.Export(flow) }

func main() {}
