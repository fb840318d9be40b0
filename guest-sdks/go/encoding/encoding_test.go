package encoding

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := Marshal(v)
	if err != nil {
		t.Fatalf("Marshal(%#v): %v", v, err)
	}
	return b
}

func wantHex(t *testing.T, v any, want string) {
	t.Helper()
	if got := hex.EncodeToString(mustMarshal(t, v)); got != want {
		t.Fatalf("Marshal(%#v) = %s, want %s", v, got, want)
	}
}

// wantErr checks that err is an *Error with the reason, and with the
// message when msg is not empty; it returns the *Error.
func wantErr(t *testing.T, err error, reason, msg string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v (%T), want an *Error with reason %q", err, err, reason)
	}
	if e.Reason != reason {
		t.Fatalf("reason %q (%v), want %q", e.Reason, e, reason)
	}
	if msg != "" && e.Error() != msg {
		t.Fatalf("message %q, want %q", e.Error(), msg)
	}
	return e
}

type Inner struct {
	B int    `mfw:"b"`
	A string `json:"a"`
}

type Embedded struct {
	E1 int
	E2 string `mfw:"e2,omitempty"`
}

type EmbeddedPtr struct {
	P int `mfw:"p"`
}

type record struct {
	Embedded
	*EmbeddedPtr
	Name     string            `mfw:"name"`
	Count    int64             `json:"count"`
	Ratio    float32           `mfw:"ratio"`
	Skip     int               `mfw:"-"`
	SkipJSON int               `json:"-"`
	Opt      string            `mfw:"opt,omitempty"`
	OptZero  time.Duration     `mfw:"optz,omitzero"`
	Data     []byte            `mfw:"data"`
	Fixed    [4]byte           `mfw:"fixed"`
	Ints     []int             `mfw:"ints"`
	Inner    Inner             `mfw:"inner"`
	InnerPtr *Inner            `mfw:"inner_ptr"`
	Nil      *Inner            `mfw:"nil"`
	Counts   map[string]uint16 `mfw:"counts"`
	ByID     map[int]string    `mfw:"by_id"`
	Pair     Tuple             `mfw:"pair"`
	Tags     Set               `mfw:"tags"`
	Big      *big.Int          `mfw:"big"`
	BigVal   big.Int           `mfw:"big_val"`
	Any      any               `mfw:"any"`
	Plain    bool
	hidden   int
}

func TestStructRoundTrip(t *testing.T) {
	in := record{
		Embedded:    Embedded{E1: 7},
		EmbeddedPtr: &EmbeddedPtr{P: 9},
		Name:        "run-1",
		Count:       -3,
		Ratio:       0.5,
		Skip:        1,
		SkipJSON:    2,
		Data:        []byte{0, 1, 2},
		Fixed:       [4]byte{1, 2, 3, 4},
		Ints:        []int{3, 2, 1},
		Inner:       Inner{B: 1, A: "x"},
		InnerPtr:    &Inner{B: 2},
		Counts:      map[string]uint16{"b": 2, "a": 1, "cc": 3},
		ByID:        map[int]string{10: "ten", -1: "minus one", 2: "two"},
		Pair:        Tuple{int64(1), "one"},
		Tags:        Set{"b", "a"},
		Big:         new(big.Int).Lsh(big.NewInt(1), 100),
		Any:         []any{int64(1), "two"},
		Plain:       true,
		hidden:      5,
	}
	in.BigVal.SetInt64(-5)
	blob := mustMarshal(t, in)
	if err := Validate(blob); err != nil {
		t.Fatalf("Marshal wrote an invalid blob: %v", err)
	}

	generic, err := Decode(blob)
	if err != nil {
		t.Fatal(err)
	}
	m := generic.(map[string]any)
	for _, key := range []string{"name", "count", "ratio", "E1", "p", "Plain", "nil", "data", "fixed"} {
		if _, ok := m[key]; !ok {
			t.Errorf("key %q missing from %v", key, m)
		}
	}
	for _, key := range []string{"Skip", "SkipJSON", "opt", "optz", "e2", "hidden", "Embedded", "EmbeddedPtr"} {
		if _, ok := m[key]; ok {
			t.Errorf("key %q should not be written", key)
		}
	}
	if m["nil"] != nil || m["count"] != int64(-3) || m["ratio"] != 0.5 {
		t.Errorf("unexpected values: %v", m)
	}
	if !bytes.Equal(m["fixed"].([]byte), []byte{1, 2, 3, 4}) {
		t.Errorf("fixed = %#v", m["fixed"])
	}

	var out record
	if err := Unmarshal(blob, &out); err != nil {
		t.Fatal(err)
	}
	// The same value always gives the same bytes.
	if again := mustMarshal(t, out); !bytes.Equal(again, blob) {
		t.Fatalf("re-encoding differs:\n%x\n%x", again, blob)
	}
	in.Skip, in.SkipJSON, in.hidden = 0, 0, 0
	in.Tags = Set{"a", "b"} // decoded in canonical order
	if in.Big.Cmp(out.Big) != 0 || in.BigVal.Cmp(&out.BigVal) != 0 {
		t.Fatalf("big ints: %v %v", out.Big, &out.BigVal)
	}
	in.Big, out.Big = nil, nil
	in.BigVal, out.BigVal = big.Int{}, big.Int{}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n got %#v\nwant %#v", out, in)
	}
}

func TestStructFieldOrderAndNames(t *testing.T) {
	type point struct {
		Y int `mfw:"y"`
		X int `json:"x"`
	}
	// Fields are sorted by key encoding: "x" before "y".
	wantHex(t, point{Y: 2, X: 1}, "a2617801617902")
	type both struct {
		A int `mfw:"m" json:"j"`
		B int `json:",omitempty"`
		C int `mfw:",omitempty" json:"c"`
	}
	wantHex(t, both{A: 1}, "a1616d01")
	// Shorter keys first.
	type lengths struct {
		Long  int `mfw:"aa"`
		Short int `mfw:"b"`
	}
	wantHex(t, lengths{1, 2}, "a261620262616101")
}

type Base struct {
	ID   int `mfw:"id"`
	Name string
}

type Conflict1 struct{ Dup int }
type Conflict2 struct{ Dup int }

type outer struct {
	Base
	Conflict1
	Conflict2
	Name string // shallower: wins over Base.Name
}

func TestEmbeddedFlattening(t *testing.T) {
	v := outer{Base: Base{ID: 1, Name: "inner"}, Conflict1: Conflict1{Dup: 2}, Name: "outer"}
	got, err := Decode(mustMarshal(t, v))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": int64(1), "Name": "outer"}
	if !equal(got, want) {
		t.Fatalf("got %#v, want %#v (ambiguous Dup dropped)", got, want)
	}
	var back outer
	if err := Unmarshal(mustMarshal(t, map[string]any{"id": 5, "Name": "n", "Dup": 3}), &back); err != nil {
		t.Fatal(err)
	}
	if back.ID != 5 || back.Name != "n" || back.Base.Name != "" || back.Conflict1.Dup != 0 {
		t.Fatalf("got %#v", back)
	}
	// A nil embedded pointer writes nothing and is allocated on reading.
	type withPtr struct {
		*EmbeddedPtr
		Q int `mfw:"q"`
	}
	wantHex(t, withPtr{Q: 1}, "a1617101")
	var wp withPtr
	if err := Unmarshal(mustMarshal(t, map[string]int{"p": 4}), &wp); err != nil || wp.EmbeddedPtr == nil || wp.P != 4 {
		t.Fatalf("got %#v, %v", wp, err)
	}
}

func TestNestedMapsSorted(t *testing.T) {
	v := map[string]any{
		"b":  map[int]any{256: "c", -1: "b", 0: "a"},
		"a":  map[string]int{"zz": 1, "y": 2},
		"cc": []any{map[string]bool{"x": true, "w": false}},
	}
	// {"a": {"y": 2, "zz": 1}, "b": {0: "a", 256: "c", -1: "b"}, "cc": [{"w": false, "x": true}]}
	wantHex(t, v, "a3"+"6161"+"a2"+"617902"+"627a7a01"+
		"6162"+"a3"+"006161"+"1901006163"+"206162"+
		"626363"+"81"+"a2"+"6177f4"+"6178f5")
	// The RFC 8949 example, from a Go map with keys of several kinds.
	rfc := map[any]int{
		false: 8, [1]int{-1}: 7, "aa": 5, -1: 3, [1]int{100}: 6, "z": 4, 100: 2, 10: 1,
	}
	wantHex(t, rfc, "a80a011864022003617a046261610581186406812007f408")
	// Struct keys and float keys.
	wantHex(t, map[float64]string{1.5: "a", math.Inf(-1): "b"}, "a2fb3ff80000000000006161fbfff00000000000006162")
}

func TestDuplicateKeys(t *testing.T) {
	_, err := Marshal(map[any]int{1: 1, int64(1): 2})
	wantErr(t, err, "duplicate-key", "")
	_, err = Marshal(map[float64]int{math.NaN(): 1, math.NaN(): 2})
	wantErr(t, err, "duplicate-key", "")
	_, err = Marshal(Map{{Key: "a", Value: 1}, {Key: "a", Value: 2}})
	wantErr(t, err, "duplicate-key", "")
	// One NaN key is fine, and keeps its value.
	wantHex(t, map[float64]int{math.NaN(): 1}, "a1fb7ff800000000000001")
	// 1 and 1.0 are different keys.
	wantHex(t, Map{{Key: 1.0, Value: "f"}, {Key: 1, Value: "i"}}, "a2016169fb3ff00000000000006166")
}

func TestSets(t *testing.T) {
	wantHex(t, Set{3, 1, 2}, "d9010283010203")
	wantHex(t, Set(nil), "d9010280")
	wantHex(t, Set{1.0, 1}, "d9010282"+"01"+"fb3ff0000000000000")
	_, err := Marshal(Set{1, int64(1)})
	wantErr(t, err, "duplicate-set-element", "two set elements encode to the same bytes: 0x01")
	_, err = Marshal(Set{"a", []any{1}, "a"})
	wantErr(t, err, "duplicate-set-element", "")
	// Tagged with the set tag is written as a set.
	wantHex(t, Tagged{Tag: TagSet, Value: []int{2, 1}}, "d90102820102")
	_, err = Marshal(Tagged{Tag: TagSet, Value: []int{1, 1}})
	wantErr(t, err, "duplicate-set-element", "")
	// Sets fill Go slices and maps keyed by their elements.
	blob := mustMarshal(t, Set{"b", "a"})
	var s []string
	if err := Unmarshal(blob, &s); err != nil || !reflect.DeepEqual(s, []string{"a", "b"}) {
		t.Fatalf("got %v, %v", s, err)
	}
	var back Set
	if err := Unmarshal(blob, &back); err != nil || !equal(back, Set{"a", "b"}) {
		t.Fatalf("got %#v, %v", back, err)
	}
}

func TestTaggedAndPickles(t *testing.T) {
	wantHex(t, Tagged{Tag: 1, Value: 1700000000}, "c11a6553f100")
	wantHex(t, Tagged{Tag: TagTuple, Value: []any{1}}, "da6d6600018101")
	wantHex(t, Tagged{Tag: TagPickle, Value: []byte{0x80, 0x04, 0x4e, 0x2e}}, "da6d6600024480044e2e")
	wantHex(t, Tagged{Tag: 2, Value: []byte{0, 0, 1, 0}}, "190100")
	wantHex(t, Tagged{Tag: 3, Value: []byte{}}, "20")
	wantHex(t, Tagged{Tag: 2, Value: []byte{0, 1, 0, 0, 0, 0, 0, 0, 0, 0}}, "c249010000000000000000")
	_, err := Marshal(Tagged{Tag: 2, Value: "x"})
	wantErr(t, err, "bad-tag-content", "")
	_, err = Marshal(Tagged{Tag: TagTuple, Value: 5})
	wantErr(t, err, "bad-tag-content", "")
	_, err = Marshal(Tagged{Tag: TagPickle, Value: []int{1}})
	wantErr(t, err, "bad-tag-content", "")

	v, err := Decode(mustHex(t, "c11a6553f100"))
	if err != nil || !equal(v, Tagged{Tag: 1, Value: int64(1700000000)}) {
		t.Fatalf("got %#v, %v", v, err)
	}
	// Opaque tags are transparent for typed targets.
	var n int
	if err := Unmarshal(mustHex(t, "c11a6553f100"), &n); err != nil || n != 1700000000 {
		t.Fatalf("got %d, %v", n, err)
	}
	// Tagged takes any tagged item.
	var tg Tagged
	if err := Unmarshal(mustHex(t, "da6d6600018101"), &tg); err != nil || !equal(tg, Tagged{Tag: TagTuple, Value: []any{int64(1)}}) {
		t.Fatalf("got %#v, %v", tg, err)
	}
	if b := mustMarshal(t, tg); hex.EncodeToString(b) != "da6d6600018101" {
		t.Fatalf("re-encoded as %x", b)
	}
	// Pickles are kept as bytes.
	var obj PythonObject
	if err := Unmarshal(mustHex(t, "da6d6600024480044e2e"), &obj); err != nil || !bytes.Equal(obj, []byte{0x80, 0x04, 0x4e, 0x2e}) {
		t.Fatalf("got %x, %v", obj, err)
	}
	var b []byte
	wantErr(t, Unmarshal(mustHex(t, "da6d6600024480044e2e"), &b), "unexpected-kind",
		"expected bytes, found a pickle (a Python object only Python steps can read)")
	wantHex(t, PythonObject(nil), "da6d66000240")
}

func TestIntegers(t *testing.T) {
	cases := []struct {
		v    any
		want string
	}{
		{0, "00"}, {23, "17"}, {24, "1818"}, {-1, "20"}, {-25, "3818"},
		{int8(-128), "387f"}, {uint8(255), "18ff"}, {int64(math.MinInt64), "3b7fffffffffffffff"},
		{uint64(math.MaxUint64), "1bffffffffffffffff"}, {uintptr(1), "01"},
	}
	for _, c := range cases {
		wantHex(t, c.v, c.want)
	}
	two64 := new(big.Int).Lsh(big.NewInt(1), 64)
	bigs := []struct {
		n    *big.Int
		want string
	}{
		{big.NewInt(0), "00"},
		{new(big.Int).Sub(two64, big.NewInt(1)), "1bffffffffffffffff"},
		{two64, "c249010000000000000000"},
		{new(big.Int).Neg(two64), "3bffffffffffffffff"},
		{new(big.Int).Sub(new(big.Int).Neg(two64), big.NewInt(1)), "c349010000000000000000"},
		{new(big.Int).Lsh(big.NewInt(1), 127), "c25080000000000000000000000000000000"},
	}
	for _, c := range bigs {
		wantHex(t, c.n, c.want)
		wantHex(t, *c.n, c.want)
		var got big.Int
		if err := Unmarshal(mustMarshal(t, c.n), &got); err != nil || got.Cmp(c.n) != 0 {
			t.Fatalf("Unmarshal %v: %v, %v", c.n, &got, err)
		}
	}
	wantHex(t, (*big.Int)(nil), "f6")

	// What Decode gives.
	decoded := map[string]any{
		"00":                     int64(0),
		"3b7fffffffffffffff":     int64(math.MinInt64),
		"1b7fffffffffffffff":     int64(math.MaxInt64),
		"1b8000000000000000":     uint64(1 << 63),
		"3b8000000000000000":     new(big.Int).Sub(big.NewInt(math.MinInt64), big.NewInt(1)),
		"c249010000000000000000": two64,
	}
	for h, want := range decoded {
		got, err := Decode(mustHex(t, h))
		if err != nil || !equal(got, want) {
			t.Fatalf("Decode(%s) = %#v (%T), %v; want %#v", h, got, got, err, want)
		}
	}
}

func TestIntOverflow(t *testing.T) {
	var i8 int8
	wantErr(t, Unmarshal(mustMarshal(t, 300), &i8), "out-of-range", "integer 300 does not fit in int8")
	wantErr(t, Unmarshal(mustMarshal(t, -129), &i8), "out-of-range", "integer -129 does not fit in int8")
	if err := Unmarshal(mustMarshal(t, -128), &i8); err != nil || i8 != -128 {
		t.Fatalf("got %d, %v", i8, err)
	}
	var u8 uint8
	wantErr(t, Unmarshal(mustMarshal(t, -1), &u8), "out-of-range", "integer -1 does not fit in uint8")
	var u64 uint64
	wantErr(t, Unmarshal(mustHex(t, "c249010000000000000000"), &u64), "out-of-range",
		"integer 18446744073709551616 does not fit in uint64")
	if err := Unmarshal(mustHex(t, "1bffffffffffffffff"), &u64); err != nil || u64 != math.MaxUint64 {
		t.Fatalf("got %d, %v", u64, err)
	}
	var i64 int64
	wantErr(t, Unmarshal(mustHex(t, "1b8000000000000000"), &i64), "out-of-range",
		"integer 9223372036854775808 does not fit in int64")
	wantErr(t, Unmarshal(mustHex(t, "3bffffffffffffffff"), &i64), "out-of-range",
		"integer -18446744073709551616 does not fit in int64")
	type level int16
	var lv level
	wantErr(t, Unmarshal(mustMarshal(t, 1<<20), &lv), "out-of-range", "integer 1048576 does not fit in encoding.level")
	var f32 float32
	wantErr(t, Unmarshal(mustMarshal(t, 1e300), &f32), "out-of-range", "float 1e+300 does not fit in float32")
	var f64 float64
	huge := new(big.Int).Lsh(big.NewInt(1), 1100)
	wantErr(t, Unmarshal(mustMarshal(t, huge), &f64), "out-of-range", "")
	// Ints fill floats.
	if err := Unmarshal(mustMarshal(t, -3), &f64); err != nil || f64 != -3 {
		t.Fatalf("got %v, %v", f64, err)
	}
	if err := Unmarshal(mustHex(t, "c249010000000000000000"), &f64); err != nil || f64 != 0x1p64 {
		t.Fatalf("got %v, %v", f64, err)
	}
}

func TestUnexpectedKinds(t *testing.T) {
	var n int
	wantErr(t, Unmarshal(mustMarshal(t, "a"), &n), "unexpected-kind", "expected an integer, found a str")
	wantErr(t, Unmarshal(mustMarshal(t, 1.5), &n), "unexpected-kind", "expected an integer, found a float")
	wantErr(t, Unmarshal(mustMarshal(t, nil), &n), "unexpected-kind", "expected an integer, found null")
	var s string
	wantErr(t, Unmarshal(mustMarshal(t, []byte("a")), &s), "unexpected-kind", "expected a str, found bytes")
	var f float64
	wantErr(t, Unmarshal(mustMarshal(t, true), &f), "unexpected-kind", "expected a float, found a bool")
	var b bool
	wantErr(t, Unmarshal(mustMarshal(t, 0), &b), "unexpected-kind", "expected a bool, found an int")
	var l []int
	wantErr(t, Unmarshal(mustMarshal(t, map[string]int{}), &l), "unexpected-kind", "expected a list, found a map")
	var st Inner
	wantErr(t, Unmarshal(mustMarshal(t, Tuple{1}), &st), "unexpected-kind", "expected a map, found a tuple")
	var arr [2]int
	wantErr(t, Unmarshal(mustMarshal(t, []int{1, 2, 3}), &arr), "unexpected-kind", "expected a list of 2 items, found a list of 3 items")
	var m map[string]int
	wantErr(t, Unmarshal(mustMarshal(t, map[int]int{1: 1}), &m), "unexpected-kind", "expected a str, found an int")
	var po PythonObject
	wantErr(t, Unmarshal(mustMarshal(t, []byte{1}), &po), "unexpected-kind", "expected a pickle, found bytes")

	// Targets.
	wantErr(t, Unmarshal(mustMarshal(t, 1), n), "invalid-target", "Unmarshal needs a non-nil pointer, not int")
	wantErr(t, Unmarshal(mustMarshal(t, 1), nil), "invalid-target", "")
	wantErr(t, Unmarshal(mustMarshal(t, 1), (*int)(nil)), "invalid-target", "")
	var ch chan int
	wantErr(t, Unmarshal(mustMarshal(t, 1), &ch), "unsupported-type", "cannot unmarshal into a value of type chan int")
	var stringer interface{ String() string }
	wantErr(t, Unmarshal(mustMarshal(t, 1), &stringer), "unsupported-type", "")
	// Invalid blobs are rejected whatever the target.
	wantErr(t, Unmarshal([]byte{0x18, 0x01}, &n), "non-shortest", "non-shortest integer head at byte 0")
}

func TestUnmarshalTargets(t *testing.T) {
	// Tuple keys fill array keys.
	blob := mustMarshal(t, Map{{Key: Tuple{1, 2}, Value: "a"}, {Key: Tuple{0, 5}, Value: "b"}})
	var byPair map[[2]int]string
	if err := Unmarshal(blob, &byPair); err != nil || !reflect.DeepEqual(byPair, map[[2]int]string{{1, 2}: "a", {0, 5}: "b"}) {
		t.Fatalf("got %v, %v", byPair, err)
	}
	// Keys into any, but only hashable ones.
	var anyKeys map[any]string
	if err := Unmarshal(mustMarshal(t, map[any]string{1: "i", "s": "t", 2.5: "f"}), &anyKeys); err != nil ||
		!reflect.DeepEqual(anyKeys, map[any]string{int64(1): "i", "s": "t", 2.5: "f"}) {
		t.Fatalf("got %v, %v", anyKeys, err)
	}
	wantErr(t, Unmarshal(blob, &anyKeys), "unsupported-type", "a tuple cannot be a key of a Go map[interface {}]string (use encoding.Map)")
	var generic Map
	if err := Unmarshal(blob, &generic); err != nil || !equal(generic, Map{{Key: Tuple{int64(0), int64(5)}, Value: "b"}, {Key: Tuple{int64(1), int64(2)}, Value: "a"}}) {
		t.Fatalf("got %#v, %v", generic, err)
	}
	// Int keys.
	var byID map[uint8]bool
	if err := Unmarshal(mustMarshal(t, map[int]bool{1: true, 200: false}), &byID); err != nil || !reflect.DeepEqual(byID, map[uint8]bool{1: true, 200: false}) {
		t.Fatalf("got %v, %v", byID, err)
	}
	// Bytes from a list of ints (as Rust writes a Vec<u8>), and the other way.
	var data []byte
	if err := Unmarshal(mustMarshal(t, []int{1, 2, 255}), &data); err != nil || !bytes.Equal(data, []byte{1, 2, 255}) {
		t.Fatalf("got %v, %v", data, err)
	}
	wantErr(t, Unmarshal(mustMarshal(t, []int{256}), &data), "out-of-range", "integer 256 does not fit in uint8")
	var ints []int
	if err := Unmarshal(mustMarshal(t, []byte{7, 8}), &ints); err != nil || !reflect.DeepEqual(ints, []int{7, 8}) {
		t.Fatalf("got %v, %v", ints, err)
	}
	var fixed [3]byte
	if err := Unmarshal(mustMarshal(t, []byte{7, 8, 9}), &fixed); err != nil || fixed != [3]byte{7, 8, 9} {
		t.Fatalf("got %v, %v", fixed, err)
	}
	wantErr(t, Unmarshal(mustMarshal(t, []byte{7}), &fixed), "unexpected-kind", "expected 3 bytes, found 1 bytes")
	// Pointers are allocated; null sets them to nil.
	var pp **int
	if err := Unmarshal(mustMarshal(t, 5), &pp); err != nil || **pp != 5 {
		t.Fatalf("got %v, %v", pp, err)
	}
	if err := Unmarshal(mustMarshal(t, nil), &pp); err != nil || pp != nil {
		t.Fatalf("got %v, %v", pp, err)
	}
	sl := []int{1}
	if err := Unmarshal(mustMarshal(t, nil), &sl); err != nil || sl != nil {
		t.Fatalf("got %v, %v", sl, err)
	}
	// An interface holding a pointer is filled through it.
	var target Inner
	var iface any = &target
	if err := Unmarshal(mustMarshal(t, Inner{B: 3, A: "z"}), &iface); err != nil || target != (Inner{B: 3, A: "z"}) {
		t.Fatalf("got %v, %v", target, err)
	}
	// Unknown keys (text or not) are ignored; missing fields kept.
	in := Inner{B: 1, A: "keep"}
	if err := Unmarshal(mustMarshal(t, Map{{Key: "b", Value: 9}, {Key: "zzz", Value: []any{1}}, {Key: 4, Value: "x"}}), &in); err != nil ||
		in != (Inner{B: 9, A: "keep"}) {
		t.Fatalf("got %v, %v", in, err)
	}
	// Tuples fill arrays and slices; lists fill Tuple.
	var pair [2]any
	if err := Unmarshal(mustMarshal(t, Tuple{1, "a"}), &pair); err != nil || pair != [2]any{int64(1), "a"} {
		t.Fatalf("got %v, %v", pair, err)
	}
	var tup Tuple
	if err := Unmarshal(mustMarshal(t, []any{1, "a"}), &tup); err != nil || !equal(tup, Tuple{int64(1), "a"}) {
		t.Fatalf("got %#v, %v", tup, err)
	}
	// Existing maps are added to.
	counts := map[string]int{"old": 1}
	if err := Unmarshal(mustMarshal(t, map[string]int{"new": 2}), &counts); err != nil || !reflect.DeepEqual(counts, map[string]int{"old": 1, "new": 2}) {
		t.Fatalf("got %v, %v", counts, err)
	}
	// Floats keep -0.0 and NaN.
	var fs []float64
	if err := Unmarshal(mustMarshal(t, []float64{math.Copysign(0, -1), math.NaN()}), &fs); err != nil ||
		math.Float64bits(fs[0]) != 1<<63 || !math.IsNaN(fs[1]) {
		t.Fatalf("got %v, %v", fs, err)
	}
}

func TestFloats(t *testing.T) {
	wantHex(t, 1.5, "fb3ff8000000000000")
	wantHex(t, float32(1.5), "fb3ff8000000000000")
	wantHex(t, float32(0.1), "fb3fb99999a0000000")
	wantHex(t, math.Copysign(0, -1), "fb8000000000000000")
	for _, bits := range []uint64{0x7ff8000000000000, 0xfff8000000000000, 0x7ff8000000000001, 0x7ff0000000000001, 0xffffffffffffffff} {
		wantHex(t, math.Float64frombits(bits), "fb7ff8000000000000")
	}
	wantHex(t, float32(math.NaN()), "fb7ff8000000000000")
	wantHex(t, math.Float32frombits(0xffc00001), "fb7ff8000000000000")
}

func TestStrings(t *testing.T) {
	wantHex(t, "ü水𝄞", "69c3bce6b0b4f09d849e")
	type name string
	wantHex(t, name("a"), "6161")
	_, err := Marshal("ab\xff")
	wantErr(t, err, "invalid-utf8", "cannot encode a string holding invalid UTF-8 (at byte 2 of the string): text must be valid UTF-8")
	_, err = Marshal(map[string]int{"\xed\xa0\x80": 1})
	wantErr(t, err, "invalid-utf8", "")
}

func TestNils(t *testing.T) {
	var p *int
	var m map[string]int
	var s []int
	var b []byte
	var i any
	var e error
	for _, v := range []any{nil, p, m, s, b, i, e, []any(nil), map[string]any(nil)} {
		wantHex(t, v, "f6")
	}
	wantHex(t, []any{}, "80")
	wantHex(t, []byte{}, "40")
	wantHex(t, Tuple(nil), "da6d66000180")
	wantHex(t, Map(nil), "a0")
}

func TestUnsupportedTypes(t *testing.T) {
	for _, c := range []struct {
		v    any
		name string
	}{
		{make(chan int), "chan int"},
		{func() {}, "func()"},
		{complex(1, 2), "complex128"},
		{[]any{1, map[string]any{"f": complex64(1)}}, "complex64"},
	} {
		_, err := Marshal(c.v)
		wantErr(t, err, "unsupported-type", "cannot encode a value of type "+c.name+": it has no mfw-cbor/1 encoding")
	}
}

type celsius float64

func (c celsius) MarshalMFW() ([]byte, error) {
	return Marshal(Tagged{Tag: 99, Value: float64(c)})
}

func (c *celsius) UnmarshalMFW(data []byte) error {
	var tg Tagged
	if err := Unmarshal(data, &tg); err != nil {
		return err
	}
	if tg.Tag != 99 {
		return errors.New("not a temperature")
	}
	*c = celsius(tg.Value.(float64))
	return nil
}

type badMarshaler struct{ blob []byte }

func (b badMarshaler) MarshalMFW() ([]byte, error) {
	if b.blob == nil {
		return nil, errors.New("boom")
	}
	return b.blob, nil
}

func TestMarshaler(t *testing.T) {
	type reading struct {
		Temp  celsius  `mfw:"temp"`
		Other *celsius `mfw:"other"`
	}
	blob := mustMarshal(t, reading{Temp: 21.5})
	if hex.EncodeToString(blob) != "a2"+"6474656d70"+"d863fb4035800000000000"+"656f74686572"+"f6" {
		t.Fatalf("got %x", blob)
	}
	var back reading
	if err := Unmarshal(blob, &back); err != nil || back.Temp != 21.5 || back.Other != nil {
		t.Fatalf("got %v, %v", back, err)
	}
	var c celsius
	err := Unmarshal(mustMarshal(t, Tagged{Tag: 98, Value: 1}), &c)
	if err == nil || !strings.Contains(err.Error(), "not a temperature") {
		t.Fatalf("got %v", err)
	}
	wantErr(t, err, "marshaler", "")

	_, err = Marshal(badMarshaler{})
	e := wantErr(t, err, "marshaler", "MarshalMFW of encoding.badMarshaler: boom")
	if e.Unwrap() == nil || e.Unwrap().Error() != "boom" {
		t.Fatalf("Unwrap = %v", e.Unwrap())
	}
	_, err = Marshal(badMarshaler{blob: []byte{0x18, 0x01}})
	wantErr(t, err, "non-shortest", "MarshalMFW of encoding.badMarshaler returned an invalid blob: non-shortest integer head at byte 0")
	_, err = Marshal(badMarshaler{blob: []byte{0x01, 0x02}})
	wantErr(t, err, "trailing-bytes", "")
	// The blob counts at the depth where it appears.
	deep := append(bytes.Repeat([]byte{0x81}, 10), 0x80)
	if _, err := Marshal([]any{badMarshaler{blob: deep}}); err != nil {
		t.Fatal(err)
	}
	_, err = Marshal(nest(MaxDepth-5, any(badMarshaler{blob: deep})))
	wantErr(t, err, "too-deep", "")
}

// nest puts v inside n lists.
func nest(n int, v any) any {
	for range n {
		v = []any{v}
	}
	return v
}

func TestDepth(t *testing.T) {
	// 512 arrays inside one another are valid, 513 are not.
	ok := append(bytes.Repeat([]byte{0x81}, MaxDepth-1), 0x80)
	if err := Validate(ok); err != nil {
		t.Fatal(err)
	}
	v, err := Decode(ok)
	if err != nil {
		t.Fatal(err)
	}
	if again := mustMarshal(t, v); !bytes.Equal(again, ok) {
		t.Fatal("512 levels do not round trip")
	}
	if b := mustMarshal(t, nest(MaxDepth-1, []any{})); !bytes.Equal(b, ok) {
		t.Fatal("Marshal of 512 levels")
	}
	var typed any
	if err := Unmarshal(ok, &typed); err != nil {
		t.Fatal(err)
	}
	tooDeep := append([]byte{0x81}, ok...)
	wantErr(t, Validate(tooDeep), "too-deep", "nesting deeper than 512 levels at byte 512")
	_, err = Decode(tooDeep)
	wantErr(t, err, "too-deep", "nesting deeper than 512 levels at byte 512")
	_, err = Marshal(nest(MaxDepth, []any{}))
	wantErr(t, err, "too-deep", "")
	// A million levels: rejected without recursing.
	_, err = Decode(bytes.Repeat([]byte{0x81}, 1_000_000))
	wantErr(t, err, "too-deep", "nesting deeper than 512 levels at byte 512")
	// Tags count: 511 arrays around a tag around an empty array.
	blob := append(bytes.Repeat([]byte{0x81}, MaxDepth-1), 0xc6, 0x80)
	wantErr(t, Validate(blob), "too-deep", "nesting deeper than 512 levels at byte 512")
	// A tuple counts two levels when encoding too.
	if _, err := Marshal(nest(MaxDepth-2, Tuple{})); err != nil {
		t.Fatal(err)
	}
	_, err = Marshal(nest(MaxDepth-1, Tuple{}))
	wantErr(t, err, "too-deep", "")
	// Bignums count one level.
	huge := new(big.Int).Lsh(big.NewInt(1), 70)
	if _, err := Marshal(nest(MaxDepth-1, huge)); err != nil {
		t.Fatal(err)
	}
	_, err = Marshal(nest(MaxDepth, huge))
	wantErr(t, err, "too-deep", "")
	// Alternating maps, tags and arrays down to 512 levels.
	var alt []byte
	for level := range MaxDepth - 1 {
		switch level % 3 {
		case 0:
			alt = append(alt, 0xa1, 0x61, 'k')
		case 1:
			alt = append(alt, 0xc6)
		default:
			alt = append(alt, 0x81)
		}
	}
	alt = append(alt, 0x80)
	v, err = Decode(alt)
	if err != nil {
		t.Fatal(err)
	}
	if again := mustMarshal(t, v); !bytes.Equal(again, alt) {
		t.Fatal("alternating 512 levels do not round trip")
	}
}

type node struct {
	Name string `mfw:"name"`
	Next *node  `mfw:"next"`
}

func TestCycles(t *testing.T) {
	n := &node{Name: "a"}
	n.Next = n
	_, err := Marshal(n)
	wantErr(t, err, "too-deep", "")

	s := []any{nil}
	s[0] = s
	_, err = Marshal(s)
	wantErr(t, err, "too-deep", "")

	m := map[string]any{}
	m["self"] = m
	_, err = Marshal(m)
	wantErr(t, err, "too-deep", "")

	var x any
	x = &x
	_, err = Marshal(x)
	wantErr(t, err, "too-deep", "")

	type ptr *ptr
	var p ptr
	p = &p
	_, err = Marshal(p)
	wantErr(t, err, "too-deep", "")
	var target ptr
	wantErr(t, Unmarshal(mustMarshal(t, 1), &target), "unsupported-type", "")

	// A long chain that is not a cycle is fine up to the limit.
	var head *node
	for range MaxDepth - 1 {
		head = &node{Name: "n", Next: head}
	}
	blob := mustMarshal(t, head)
	var back *node
	if err := Unmarshal(blob, &back); err != nil {
		t.Fatal(err)
	}
	if again := mustMarshal(t, back); !bytes.Equal(again, blob) {
		t.Fatal("chain does not round trip")
	}
}

func TestLargeBytes(t *testing.T) {
	data := make([]byte, 50<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	start := time.Now()
	blob := mustMarshal(t, data)
	if len(blob) != len(data)+5 || !bytes.Equal(blob[:5], []byte{0x5a, 0x03, 0x20, 0x00, 0x00}) {
		t.Fatalf("head %x, length %d", blob[:5], len(blob))
	}
	if err := Validate(blob); err != nil {
		t.Fatal(err)
	}
	var back []byte
	if err := Unmarshal(blob, &back); err != nil {
		t.Fatal(err)
	}
	v, err := Decode(blob)
	if err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	if !bytes.Equal(back, data) || !bytes.Equal(v.([]byte), data) {
		t.Fatal("50 MB do not round trip")
	}
	if elapsed > 5*time.Second {
		t.Fatalf("50 MB round trip took %v", elapsed)
	}
	t.Logf("50 MB: Marshal+Validate+Unmarshal+Decode in %v", elapsed)
	// A string of 50 MB too.
	s := strings.Repeat("ü", 25<<20)
	blob = mustMarshal(t, s)
	var sback string
	if err := Unmarshal(blob, &sback); err != nil || sback != s {
		t.Fatalf("string round trip: %v", err)
	}
}

func TestErrorOffsets(t *testing.T) {
	cases := []struct {
		hex, reason, msg string
	}{
		{"82016 1ff", "invalid-utf8", "invalid UTF-8 in text at byte 3"},
		{"a20100 0100", "duplicate-key", "duplicate map key at byte 3"},
		{"820082011800", "non-shortest", "non-shortest integer head at byte 4"},
		{"", "truncated", "truncated input: the item at byte 0 runs past the end"},
		{"c6", "truncated", "truncated input: the item at byte 0 runs past the end"},
		{"8201", "truncated", "truncated input: the item at byte 2 runs past the end"},
		{"c26161", "bad-tag-content", "tag 2 at byte 0 must wrap bytes, found a str"},
		{"d90102a0", "bad-tag-content", "tag 258 at byte 0 must wrap an array, found a map"},
		{"a2616201616102", "unsorted-keys", "map keys out of canonical order at byte 4"},
		{"d90102820201", "unsorted-set", "set elements out of canonical order at byte 5"},
		{"d90102820101", "duplicate-set-element", "duplicate set element at byte 5"},
		{"0102", "trailing-bytes", "trailing bytes at byte 1: a blob holds exactly one item"},
		{"9f01ff", "indefinite-length", "indefinite-length array at byte 0: only definite lengths are allowed"},
		{"1f", "reserved-info", "reserved additional info 31 in major type 0 at byte 0"},
		{"fc", "reserved-info", "reserved additional info 28 in major type 7 at byte 0"},
		{"ff", "unexpected-break", "unexpected break (0xff) at byte 0"},
		{"f93c00", "short-float", "16-bit float at byte 0: floats must be 64-bit (0xfb)"},
		{"fa3fc00000", "short-float", "32-bit float at byte 0: floats must be 64-bit (0xfb)"},
		{"fbfff8000000000000", "non-canonical-nan", "non-canonical NaN at byte 0: NaN must be 0xfb7ff8000000000000"},
		{"f7", "simple-value", "simple value 23 at byte 0 is not allowed (only false, true and null)"},
		{"f820", "simple-value", "simple value 32 at byte 0 is not allowed (only false, true and null)"},
		{"f8", "truncated", "truncated input: the item at byte 0 runs past the end"},
		{"c248ffffffffffffffff", "bignum-fits", "bignum at byte 0 fits a plain integer (major type 0/1)"},
		{"c24a00010000000000000000", "bignum-leading-zero", "bignum at byte 0 has a leading zero byte"},
		{"c25f", "indefinite-length", "indefinite-length bytes at byte 1: only definite lengths are allowed"},
		{"c249", "truncated", "truncated input: the item at byte 1 runs past the end"},
		{"d9000100", "non-shortest", "non-shortest tag number head at byte 0"},
		{"5801ff", "non-shortest", "non-shortest length head at byte 0"},
		{"7affffffff61", "truncated", "truncated input: the item at byte 0 runs past the end"},
		{"9bffffffffffffffff", "truncated", "truncated input: the item at byte 9 runs past the end"},
		{"bbffffffffffffffff", "truncated", "truncated input: the item at byte 9 runs past the end"},
		{"62c328", "invalid-utf8", "invalid UTF-8 in text at byte 1"},
		{"62e282", "invalid-utf8", "invalid UTF-8 in text at byte 1"},
		{"a26161016161", "duplicate-key", "duplicate map key at byte 4"},
	}
	for _, c := range cases {
		blob := mustHex(t, strings.ReplaceAll(c.hex, " ", ""))
		e := wantErr(t, Validate(blob), c.reason, c.msg)
		_, err := Decode(blob)
		if d := wantErr(t, err, c.reason, c.msg); d.Offset != e.Offset {
			t.Fatalf("%s: offsets %d and %d", c.hex, d.Offset, e.Offset)
		}
	}
}

func TestKindOf(t *testing.T) {
	cases := map[string]string{
		"f6":                     "null",
		"f5":                     "bool",
		"20":                     "int",
		"c249010000000000000000": "int",
		"fb0000000000000000":     "float",
		"60":                     "str",
		"40":                     "bytes",
		"80":                     "list",
		"a0":                     "map",
		"da6d66000180":           "tuple",
		"d9010280":               "set",
		"da6d66000240":           "pickle",
		"c100":                   "tagged",
	}
	for h, want := range cases {
		if got, err := KindOf(mustHex(t, h)); err != nil || got != want {
			t.Errorf("KindOf(%s) = %q, %v; want %q", h, got, err, want)
		}
	}
	_, err := KindOf([]byte{0xf7})
	wantErr(t, err, "simple-value", "")
}

func TestArrayItems(t *testing.T) {
	check := func(h string, want ...string) {
		t.Helper()
		items, err := ArrayItems(mustHex(t, h))
		if err != nil {
			t.Fatalf("ArrayItems(%s): %v", h, err)
		}
		if len(items) != len(want) {
			t.Fatalf("ArrayItems(%s) = %x", h, items)
		}
		for i := range want {
			if hex.EncodeToString(items[i]) != want[i] {
				t.Fatalf("ArrayItems(%s)[%d] = %x, want %s", h, i, items[i], want[i])
			}
			if err := Validate(items[i]); err != nil {
				t.Fatalf("item %d is not a blob: %v", i, err)
			}
		}
	}
	check("da6d660001820180", "01", "80")
	check("d90102820102", "01", "02")
	check("80")
	check(hex.EncodeToString(mustMarshal(t, []any{1, "x", []any{2}, map[string]int{"a": 1}})), "01", "6178", "8102", "a1616101")
	_, err := ArrayItems([]byte{0x01})
	wantErr(t, err, "unexpected-kind", "expected a list, found an int")
	_, err = ArrayItems(mustHex(t, "da6d66000240"))
	wantErr(t, err, "unexpected-kind", "expected a list, found a pickle (a Python object only Python steps can read)")
	_, err = ArrayItems([]byte{0x81, 0x01, 0x00})
	wantErr(t, err, "trailing-bytes", "trailing bytes at byte 2: a blob holds exactly one item")
	// 512 levels: items of the outer list are 511 deep, still valid alone.
	deep := append(bytes.Repeat([]byte{0x81}, MaxDepth-1), 0x80)
	items, err := ArrayItems(deep)
	if err != nil || len(items) != 1 || !bytes.Equal(items[0], deep[1:]) {
		t.Fatalf("got %d items, %v", len(items), err)
	}
}

func TestErrorType(t *testing.T) {
	_, err := Decode(mustHex(t, "a2616201616102"))
	e := wantErr(t, err, "unsorted-keys", "map keys out of canonical order at byte 4")
	if e.Offset != 4 || e.Unwrap() != nil {
		t.Fatalf("got %#v", e)
	}
	_, err = Marshal(make(chan int))
	if e := wantErr(t, err, "unsupported-type", ""); e.Offset != -1 {
		t.Fatalf("offset %d", e.Offset)
	}
}

type hiddenBase struct {
	X int `mfw:"x"`
}

type hiddenPtrBase struct {
	Z int `mfw:"z"`
}

func TestEmbeddedUnexported(t *testing.T) {
	type withHidden struct {
		hiddenBase
		Y int `mfw:"y"`
	}
	wantHex(t, withHidden{hiddenBase{1}, 2}, "a2617801617902")
	var back withHidden
	if err := Unmarshal(mustHex(t, "a2617803617904"), &back); err != nil || back.X != 3 || back.Y != 4 {
		t.Fatalf("got %+v, %v", back, err)
	}
	type withHiddenPtr struct {
		*hiddenPtrBase
		Y int `mfw:"y"`
	}
	wantHex(t, withHiddenPtr{&hiddenPtrBase{5}, 6}, "a2617906617a05")
	wantHex(t, withHiddenPtr{nil, 6}, "a1617906")
	var p withHiddenPtr
	wantErr(t, Unmarshal(mustHex(t, "a1617a05"), &p), "unsupported-type",
		"cannot set the embedded pointer to the unexported struct type encoding.hiddenPtrBase")
	p.hiddenPtrBase = &hiddenPtrBase{}
	if err := Unmarshal(mustHex(t, "a1617a05"), &p); err != nil || p.Z != 5 {
		t.Fatalf("got %+v, %v", p, err)
	}
}

type myByte uint8

func TestNamedByteTypes(t *testing.T) {
	type blob []myByte
	wantHex(t, blob{1, 2}, "420102")
	wantHex(t, [2]myByte{3, 4}, "420304")
	var b blob
	if err := Unmarshal(mustHex(t, "420102"), &b); err != nil || !reflect.DeepEqual(b, blob{1, 2}) {
		t.Fatalf("got %v, %v", b, err)
	}
	var a [2]myByte
	if err := Unmarshal(mustHex(t, "420304"), &a); err != nil || a != [2]myByte{3, 4} {
		t.Fatalf("got %v, %v", a, err)
	}
}
