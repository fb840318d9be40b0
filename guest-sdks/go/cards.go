package mfw

import (
	"encoding/base64"
	"encoding/json"
	"sort"

	"mfw.dev/sdk/internal/wit/mfw_flow_objects"
)

// Component is anything a card can show: Markdown, Table, Image,
// ProgressBar or VegaChart. Cards are the reports `mfw ui` shows and
// `mfw card get` writes (Metaflow's @card), the same from Go, Rust and
// Python steps.
type Component interface {
	cardJSON() map[string]any
}

// Markdown is text in Markdown (HTML in it is shown as text).
type Markdown struct{ Text string }

func (m Markdown) cardJSON() map[string]any {
	return map[string]any{"type": "markdown", "text": m.Text}
}

// Table is rows of cells (numbers, text, booleans) under optional headers.
type Table struct {
	Headers []string
	Rows    [][]any
}

func (t Table) cardJSON() map[string]any {
	headers, rows := t.Headers, t.Rows
	if headers == nil {
		headers = []string{}
	}
	if rows == nil {
		rows = [][]any{}
	}
	return map[string]any{"type": "table", "headers": headers, "data": rows}
}

// Image is an encoded image (PNG, JPEG, GIF or WebP bytes) with a label.
type Image struct {
	Bytes []byte
	Label string
}

func (i Image) cardJSON() map[string]any {
	return map[string]any{
		"type": "image", "label": i.Label,
		"base64": base64.StdEncoding.EncodeToString(i.Bytes),
	}
}

// ProgressBar is progress toward Max.
type ProgressBar struct {
	Max, Value  float64
	Label, Unit string
}

func (p ProgressBar) cardJSON() map[string]any {
	return map[string]any{
		"type": "progressbar", "max": p.Max, "value": p.Value,
		"label": p.Label, "unit": p.Unit, "metadata": nil,
	}
}

// VegaChart is a Vega-Lite chart, by its specification.
type VegaChart struct{ Spec map[string]any }

func (v VegaChart) cardJSON() map[string]any {
	return map[string]any{"type": "vegachart", "spec": v.Spec, "show_controls": false}
}

// defaultCard is the id of the card Card() appends to.
const defaultCard = "default"

// Card is one of the task's cards.
type Card struct {
	ctx *Context
	id  string
}

// Card is the task's default card (which also shows its artifacts and the
// flow's graph).
//
//	cx.Card().Append(mfw.Markdown{Text: "# Results"})
func (c *Context) Card() *Card { return c.CardID(defaultCard) }

// CardID is the blank card id (Metaflow's current.card["id"]).
func (c *Context) CardID(id string) *Card { return &Card{ctx: c, id: id} }

// Append adds components to the card.
func (k *Card) Append(components ...Component) *Card {
	if k.ctx.cards == nil {
		k.ctx.cards = map[string][]map[string]any{}
	}
	for _, component := range components {
		k.ctx.cards[k.id] = append(k.ctx.cards[k.id], component.cardJSON())
	}
	return k
}

// cardDocuments gives each card as (object key, JSON document); the
// document's keys are sorted (encoding/json sorts map keys), so a task
// makes the same bytes each time it runs.
func cardDocuments(cards map[string][]map[string]any) ([][2]string, error) {
	ids := make([]string, 0, len(cards))
	for id := range cards {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([][2]string, 0, len(ids))
	for _, id := range ids {
		var cardID any = id
		kind := "blank"
		if id == defaultCard {
			cardID, kind = nil, "default"
		}
		doc, err := json.Marshal(map[string]any{
			"format": 1, "id": cardID, "type": kind, "components": cards[id],
		})
		if err != nil {
			return nil, err
		}
		out = append(out, [2]string{"mfw.cards/" + id, string(doc)})
	}
	return out, nil
}

// storeCards hands the host the task's cards (when its step succeeded).
func (c *Context) storeCards() error {
	docs, err := cardDocuments(c.cards)
	if err != nil {
		return err
	}
	for _, doc := range docs {
		if r := mfw_flow_objects.Put(doc[0], []byte(doc[1])); r.IsErr() {
			return artifactError(r.Err())
		}
	}
	return nil
}
