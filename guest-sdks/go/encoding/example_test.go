package encoding_test

import (
	"errors"
	"fmt"
	"math"

	"mfw.dev/sdk/encoding"
)

func ExampleMarshal() {
	type point struct {
		Y int `mfw:"y"`
		X int `json:"x"`
	}
	// Fields, like map keys, are sorted by their encodings: "x" before "y".
	b, _ := encoding.Marshal(point{Y: 2, X: 1})
	fmt.Printf("%x\n", b)
	b, _ = encoding.Marshal(map[string]any{"b": 1, "a": []any{true, nil, 1.5}})
	fmt.Printf("%x\n", b)
	// Every NaN is written as the one canonical NaN.
	b, _ = encoding.Marshal(math.Float64frombits(0xfff8000000000001))
	fmt.Printf("%x\n", b)
	// Output:
	// a2617801617902
	// a2616183f5f6fb3ff8000000000000616201
	// fb7ff8000000000000
}

func ExampleMarshal_tuplesAndSets() {
	b, _ := encoding.Marshal(encoding.Tuple{1, "a"})
	fmt.Printf("%x\n", b)
	b, _ = encoding.Marshal(encoding.Set{3, 1, 2})
	fmt.Printf("%x\n", b)
	_, err := encoding.Marshal(encoding.Set{1, int64(1)})
	fmt.Println(err)
	// Output:
	// da6d66000182016161
	// d9010283010203
	// two set elements encode to the same bytes: 0x01
}

func ExampleUnmarshal() {
	type config struct {
		Name   string         `mfw:"name"`
		Limits map[string]int `mfw:"limits"`
		Ratio  float64        `mfw:"ratio"`
	}
	blob, _ := encoding.Marshal(map[string]any{
		"name":   "run",
		"limits": map[string]int{"cpu": 2},
		"ratio":  1, // ints fill floats
		"other":  "ignored",
	})
	var c config
	if err := encoding.Unmarshal(blob, &c); err != nil {
		fmt.Println(err)
	}
	fmt.Printf("%+v\n", c)

	var small int8
	fmt.Println(encoding.Unmarshal([]byte{0x19, 0x01, 0x2c}, &small))
	fmt.Println(encoding.Unmarshal([]byte{0x61, 'a'}, &small))
	// Output:
	// {Name:run Limits:map[cpu:2] Ratio:1}
	// integer 300 does not fit in int8
	// expected an integer, found a str
}

func ExampleDecode() {
	// {"k": (1, 2), 7: {3}}
	blob := []byte{0xa2, 0x07, 0xd9, 0x01, 0x02, 0x81, 0x03, 0x61, 'k', 0xda, 0x6d, 0x66, 0x00, 0x01, 0x82, 0x01, 0x02}
	v, err := encoding.Decode(blob)
	fmt.Printf("%#v %v\n", v, err)

	// The same map with its keys the other way round is not canonical.
	_, err = encoding.Decode([]byte{0xa2, 0x61, 'b', 0x01, 0x61, 'a', 0x02})
	var e *encoding.Error
	if errors.As(err, &e) {
		fmt.Println(e.Reason, e.Offset, e)
	}
	// Output:
	// encoding.Map{encoding.MapEntry{Key:7, Value:encoding.Set{3}}, encoding.MapEntry{Key:"k", Value:encoding.Tuple{1, 2}}} <nil>
	// unsorted-keys 4 map keys out of canonical order at byte 4
}

func ExampleValidate() {
	fmt.Println(encoding.Validate([]byte{0x18, 0x18}))
	fmt.Println(encoding.Validate([]byte{0x18, 0x17}))
	fmt.Println(encoding.Validate([]byte{0xf9, 0x3c, 0x00}))
	// Output:
	// <nil>
	// non-shortest integer head at byte 0
	// 16-bit float at byte 0: floats must be 64-bit (0xfb)
}

func ExampleArrayItems() {
	blob, _ := encoding.Marshal([]any{1, "x", []int{2}})
	items, _ := encoding.ArrayItems(blob)
	for _, item := range items {
		fmt.Printf("%x\n", item)
	}
	_, err := encoding.ArrayItems([]byte{0xa0})
	fmt.Println(err)
	// Output:
	// 01
	// 6178
	// 8102
	// expected a list, found a map
}

func ExampleKindOf() {
	for _, v := range []any{nil, 1, "s", encoding.Tuple{}, encoding.Set{}, encoding.PythonObject{0x80}, encoding.Tagged{Tag: 1, Value: 0}} {
		b, _ := encoding.Marshal(v)
		kind, _ := encoding.KindOf(b)
		fmt.Print(kind, " ")
	}
	fmt.Println()
	// Output:
	// null int str tuple set pickle tagged
}

func ExampleError() {
	_, err := encoding.Decode([]byte{0x82, 0x01, 0x61, 0xff})
	var e *encoding.Error
	if errors.As(err, &e) {
		fmt.Printf("%s at %d: %v\n", e.Reason, e.Offset, e)
	}
	// Output:
	// invalid-utf8 at 3: invalid UTF-8 in text at byte 3
}
