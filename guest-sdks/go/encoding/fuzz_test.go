package encoding

import (
	"bytes"
	"errors"
	"math/big"
	"testing"
)

// fuzzTarget has fields of many kinds, to check that Unmarshal fills typed
// values from any valid blob without panicking.
type fuzzTarget struct {
	A int8             `mfw:"a"`
	B uint16           `mfw:"b"`
	C float32          `mfw:"c"`
	D string           `mfw:""`
	E []byte           `mfw:"e"`
	F [2]int           `mfw:"f"`
	G map[[2]int]bool  `mfw:"g"`
	H map[any]any      `mfw:"h"`
	I *fuzzTarget      `mfw:"i"`
	J []any            `mfw:"j"`
	K Tuple            `mfw:"k"`
	L Set              `mfw:"l"`
	M Map              `mfw:"m"`
	N Tagged           `mfw:"n"`
	O PythonObject     `mfw:"o"`
	P *big.Int         `mfw:"p"`
	Q map[string]*bool `mfw:"q"`
	R [3]byte          `mfw:"r"`
	S any              `mfw:"s"`
	T []*fuzzTarget    `mfw:"t"`
}

func FuzzDecode(f *testing.F) {
	vectors := loadVectors(f)
	for _, v := range vectors.Valid {
		f.Add(mustHex(f, v.Hex))
	}
	for _, v := range vectors.Invalid {
		f.Add(mustHex(f, v.Hex))
	}
	f.Add(append(bytes.Repeat([]byte{0x81}, MaxDepth-1), 0x80))
	f.Add([]byte{0xa2, 0x61, 'a', 0x18, 0x64, 0x61, 'i', 0xa1, 0x61, 'f', 0x82, 0x01, 0x02})
	f.Add([]byte{0xa1, 0x61, 'g', 0xa1, 0xda, 0x6d, 0x66, 0x00, 0x01, 0x82, 0x01, 0x02, 0xf5})
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Decode(data)
		verr := Validate(data)
		if err != nil {
			var e, ve *Error
			if !errors.As(err, &e) || !errors.As(verr, &ve) {
				t.Fatalf("errors are not *Error: %v, %v", err, verr)
			}
			if *e != *ve {
				t.Fatalf("Decode and Validate disagree: %v / %v", e, ve)
			}
			if e.Offset < 0 || e.Offset > len(data) {
				t.Fatalf("offset %d outside the blob: %v", e.Offset, e)
			}
			var generic any
			if uerr := Unmarshal(data, &generic); uerr == nil || uerr.Error() != err.Error() {
				t.Fatalf("Unmarshal accepts or differs: %v / %v", uerr, err)
			}
			return
		}
		if verr != nil {
			t.Fatalf("Decode accepts but Validate rejects: %v", verr)
		}
		again, err := Marshal(v)
		if err != nil {
			t.Fatalf("Marshal of a decoded value: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", again, data)
		}
		kind, err := KindOf(data)
		if err != nil {
			t.Fatal(err)
		}
		var generic any
		if err := Unmarshal(data, &generic); err != nil || !equal(generic, v) {
			t.Fatalf("Unmarshal into any: %#v, %v; want %#v", generic, err, v)
		}
		items, err := ArrayItems(data)
		if (err == nil) != (kind == "list" || kind == "tuple" || kind == "set") {
			t.Fatalf("ArrayItems of a %s: %v", kind, err)
		}
		if err == nil {
			joined := bytes.Join(items, nil)
			if !bytes.HasSuffix(data, joined) {
				t.Fatal("ArrayItems are not the end of the blob")
			}
			for _, item := range items {
				if err := Validate(item); err != nil {
					t.Fatalf("item is not valid alone: %v", err)
				}
			}
		}
		// Typed targets may reject the value, but must not panic.
		var target fuzzTarget
		_ = Unmarshal(data, &target)
		var ints []int
		_ = Unmarshal(data, &ints)
		var anyMap map[any]any
		_ = Unmarshal(data, &anyMap)
		var n big.Int
		_ = Unmarshal(data, &n)
		var f float64
		_ = Unmarshal(data, &f)
		var m Map
		_ = Unmarshal(data, &m)
	})
}
