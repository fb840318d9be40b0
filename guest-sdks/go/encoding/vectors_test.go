package encoding

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"slices"
	"strconv"
	"testing"
)

// vectorsPath is the shared test vectors file, from this package's directory.
const vectorsPath = "../../../tests/vectors/encoding.json"

type vectorFile struct {
	Encoding string `json:"encoding"`
	Valid    []struct {
		Name  string `json:"name"`
		Value typed  `json:"value"`
		Hex   string `json:"hex"`
	} `json:"valid"`
	Invalid []struct {
		Name  string `json:"name"`
		Hex   string `json:"hex"`
		Error string `json:"error"`
	} `json:"invalid"`
}

// typed is a typed value of the vectors file.
type typed struct {
	Type    string     `json:"type"`
	Value   any        `json:"value"`
	Hex     string     `json:"hex"`
	Items   []typed    `json:"items"`
	Entries [][2]typed `json:"entries"`
}

func loadVectors(t testing.TB) *vectorFile {
	t.Helper()
	raw, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("reading the shared vectors: %v", err)
	}
	var f vectorFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("parsing the shared vectors: %v", err)
	}
	if f.Encoding != Encoding {
		t.Fatalf("vectors are for %q, not %q", f.Encoding, Encoding)
	}
	return &f
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	if b == nil {
		b = []byte{}
	}
	return b
}

// goValue is the Go value of a typed vector value, as Marshal takes it; map
// entries and set elements stay in the order given.
func goValue(t testing.TB, v typed) any {
	t.Helper()
	switch v.Type {
	case "null":
		return nil
	case "bool":
		return v.Value.(bool)
	case "int":
		n, ok := new(big.Int).SetString(v.Value.(string), 10)
		if !ok {
			t.Fatalf("bad int %q", v.Value)
		}
		return normalInt(n)
	case "float":
		s := v.Value.(string)
		switch s {
		case "nan":
			return math.NaN()
		case "inf":
			return math.Inf(1)
		case "-inf":
			return math.Inf(-1)
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("bad float %q: %v", s, err)
		}
		return f
	case "str":
		return v.Value.(string)
	case "bytes":
		return mustHex(t, v.Hex)
	case "pickle":
		return PythonObject(mustHex(t, v.Hex))
	case "list", "tuple", "set":
		items := make([]any, 0, len(v.Items))
		for _, item := range v.Items {
			items = append(items, goValue(t, item))
		}
		switch v.Type {
		case "tuple":
			return Tuple(items)
		case "set":
			return Set(items)
		}
		return items
	case "map":
		m := make(Map, 0, len(v.Entries))
		for _, e := range v.Entries {
			m = append(m, MapEntry{Key: goValue(t, e[0]), Value: goValue(t, e[1])})
		}
		return m
	}
	t.Fatalf("unknown vector type %q", v.Type)
	return nil
}

// normalInt is an integer in the form Decode gives it.
func normalInt(n *big.Int) any {
	if n.IsInt64() {
		return n.Int64()
	}
	if n.IsUint64() {
		return n.Uint64()
	}
	return n
}

// canonical is the form Decode gives for a value built by goValue: set
// elements and map entries sorted by their encodings, maps with text keys
// only as map[string]any.
func canonical(t testing.TB, v any) any {
	t.Helper()
	sortByEncoding := func(items []any, key func(int) any) []int {
		encs := make([][]byte, len(items))
		order := make([]int, len(items))
		for i := range items {
			b, err := Marshal(key(i))
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			encs[i], order[i] = b, i
		}
		slices.SortFunc(order, func(a, b int) int { return bytes.Compare(encs[a], encs[b]) })
		return order
	}
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			out[i] = canonical(t, item)
		}
		return out
	case Tuple:
		return Tuple(canonical(t, []any(x)).([]any))
	case Set:
		order := sortByEncoding(x, func(i int) any { return x[i] })
		out := make(Set, len(x))
		for i, j := range order {
			out[i] = canonical(t, x[j])
		}
		return out
	case Map:
		allText := true
		for _, e := range x {
			if _, ok := e.Key.(string); !ok {
				allText = false
			}
		}
		if allText {
			m := make(map[string]any, len(x))
			for _, e := range x {
				m[e.Key.(string)] = canonical(t, e.Value)
			}
			return m
		}
		keys := make([]any, len(x))
		for i, e := range x {
			keys[i] = e.Key
		}
		order := sortByEncoding(keys, func(i int) any { return keys[i] })
		out := make(Map, len(x))
		for i, j := range order {
			out[i] = MapEntry{Key: canonical(t, x[j].Key), Value: canonical(t, x[j].Value)}
		}
		return out
	}
	return v
}

// equal compares generic values exactly: same Go types, NaN equal to NaN,
// -0.0 different from 0.0, maps compared as sets of entries, Map entries in
// order.
func equal(a, b any) bool {
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		return ok && (math.Float64bits(x) == math.Float64bits(y) || (x != x && y != y))
	case *big.Int:
		y, ok := b.(*big.Int)
		return ok && x.Cmp(y) == 0
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case PythonObject:
		y, ok := b.(PythonObject)
		return ok && bytes.Equal(x, y)
	case []any:
		y, ok := b.([]any)
		return ok && equalSlices(x, y)
	case Tuple:
		y, ok := b.(Tuple)
		return ok && equalSlices(x, y)
	case Set:
		y, ok := b.(Set)
		return ok && equalSlices(x, y)
	case Map:
		y, ok := b.(Map)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i].Key, y[i].Key) || !equal(x[i].Value, y[i].Value) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	case Tagged:
		y, ok := b.(Tagged)
		return ok && x.Tag == y.Tag && equal(x.Value, y.Value)
	}
	return a == b
}

func equalSlices(x, y []any) bool {
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if !equal(x[i], y[i]) {
			return false
		}
	}
	return true
}

func TestVectorsValid(t *testing.T) {
	f := loadVectors(t)
	if len(f.Valid) == 0 {
		t.Fatal("no valid vectors")
	}
	for _, vec := range f.Valid {
		t.Run(vec.Name, func(t *testing.T) {
			want := mustHex(t, vec.Hex)
			value := goValue(t, vec.Value)

			got, err := Marshal(value)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Marshal = %x, want %s", got, vec.Hex)
			}

			if err := Validate(want); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			decoded, err := Decode(want)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if wantValue := canonical(t, value); !equal(decoded, wantValue) {
				t.Fatalf("Decode = %#v, want %#v", decoded, wantValue)
			}
			again, err := Marshal(decoded)
			if err != nil || !bytes.Equal(again, want) {
				t.Fatalf("Marshal(Decode) = %x, %v; want %s", again, err, vec.Hex)
			}

			var generic any
			if err := Unmarshal(want, &generic); err != nil || !equal(generic, decoded) {
				t.Fatalf("Unmarshal into any = %#v, %v; want %#v", generic, err, decoded)
			}

			kind, err := KindOf(want)
			if err != nil || kind != vec.Value.Type {
				t.Fatalf("KindOf = %q, %v; want %q", kind, err, vec.Value.Type)
			}

			items, err := ArrayItems(want)
			switch kind {
			case "list", "tuple", "set":
				if err != nil {
					t.Fatalf("ArrayItems: %v", err)
				}
				elems := sequenceItems(decoded)
				if len(items) != len(elems) {
					t.Fatalf("ArrayItems gave %d items, want %d", len(items), len(elems))
				}
				for i, item := range items {
					if enc, _ := Marshal(elems[i]); !bytes.Equal(item, enc) {
						t.Fatalf("ArrayItems[%d] = %x, want %x", i, item, enc)
					}
				}
			default:
				var e *Error
				if !errors.As(err, &e) || e.Reason != "unexpected-kind" || e.Error() != "expected a list, found "+phrase(kind) {
					t.Fatalf("ArrayItems of a %s: %v", kind, err)
				}
			}
		})
	}
}

func sequenceItems(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case Tuple:
		return x
	case Set:
		return x
	}
	panic(fmt.Sprintf("not a sequence: %T", v))
}

func TestVectorsInvalid(t *testing.T) {
	f := loadVectors(t)
	if len(f.Invalid) == 0 {
		t.Fatal("no invalid vectors")
	}
	for _, vec := range f.Invalid {
		t.Run(vec.Name, func(t *testing.T) {
			blob := mustHex(t, vec.Hex)
			check := func(what string, err error) *Error {
				t.Helper()
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("%s: got %v (%T), want an *Error with reason %q", what, err, err, vec.Error)
				}
				if e.Reason != vec.Error {
					t.Fatalf("%s: reason %q (%v), want %q", what, e.Reason, e, vec.Error)
				}
				if e.Offset < 0 || e.Offset > len(blob) {
					t.Fatalf("%s: offset %d out of the blob", what, e.Offset)
				}
				return e
			}
			verr := check("Validate", Validate(blob))
			v, err := Decode(blob)
			derr := check("Decode", err)
			if v != nil {
				t.Fatalf("Decode returned a value with its error: %#v", v)
			}
			if *verr != *derr {
				t.Fatalf("Validate and Decode disagree: %#v vs %#v", verr, derr)
			}
			_, err = KindOf(blob)
			check("KindOf", err)
			_, err = ArrayItems(blob)
			check("ArrayItems", err)
			var generic any
			check("Unmarshal", Unmarshal(blob, &generic))
			var n int
			check("Unmarshal into int", Unmarshal(blob, &n))
		})
	}
}
