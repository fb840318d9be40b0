package encoding

import (
	"testing"
)

type benchRecord struct {
	Name   string            `mfw:"name"`
	ID     int64             `mfw:"id"`
	Scores []float64         `mfw:"scores"`
	Labels map[string]string `mfw:"labels"`
	Blob   []byte            `mfw:"blob"`
	Child  *benchRecord      `mfw:"child,omitempty"`
}

func benchValue() benchRecord {
	r := benchRecord{
		Name:   "training-run",
		ID:     123456789,
		Scores: []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8},
		Labels: map[string]string{"team": "ml", "stage": "train", "owner": "someone"},
		Blob:   make([]byte, 1024),
	}
	child := r
	r.Child = &child
	return r
}

func BenchmarkMarshalStruct(b *testing.B) {
	v := benchValue()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalStruct(b *testing.B) {
	blob, _ := Marshal(benchValue())
	b.SetBytes(int64(len(blob)))
	b.ReportAllocs()
	for b.Loop() {
		var r benchRecord
		if err := Unmarshal(blob, &r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	blob, _ := Marshal(benchValue())
	b.SetBytes(int64(len(blob)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(blob); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidate(b *testing.B) {
	blob, _ := Marshal(benchValue())
	b.SetBytes(int64(len(blob)))
	b.ReportAllocs()
	for b.Loop() {
		if err := Validate(blob); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMarshalBytes(b *testing.B) {
	data := make([]byte, 8<<20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(data); err != nil {
			b.Fatal(err)
		}
	}
}
