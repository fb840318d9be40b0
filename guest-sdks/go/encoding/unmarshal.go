package encoding

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
)

// Unmarshal strictly decodes a blob into the value v points to.
//
// The blob is validated first, with every check of [Decode]: a blob that is
// not canonical is rejected whatever v is. The value is then filled much
// like encoding/json fills Go values:
//
//   - bool from a bool; integer types from an int that fits (else an error
//     with reason "out-of-range": "integer 300 does not fit in int8");
//     float types from a float or an int; big.Int from any int;
//   - string from a str; []byte and [N]byte from bytes (or from a list of
//     ints, as Rust writes a Vec<u8>);
//   - slices (Tuple and Set included) from a list, a tuple or a set, arrays
//     likewise when the lengths match; a bytes item fills them as a list of
//     ints;
//   - maps from a map, with keys of any type the map's key type can hold
//     (a tuple fills an array key type, for instance); structs from a map,
//     text keys matched exactly to field names as [Marshal] names them,
//     other keys ignored, missing fields left as they are;
//   - pointers are allocated as needed; null sets a pointer, interface,
//     slice or map to nil and is an error for other types;
//   - an interface{} gets the generic form [Decode] gives (or, when it
//     holds a non-nil pointer, the value is decoded into what that points
//     to);
//   - [Map] from a map, [Tagged] from any tagged item (bignums, tuples, sets
//     and pickles as their tag and content), [PythonObject] from a pickle;
//   - tags this package gives no meaning to are transparent for other
//     types: their content fills the value;
//   - a type implementing [Unmarshaler] decodes itself.
//
// A value of another kind than the target needs gives an [*Error] with
// reason "unexpected-kind" and the Rust wording: "expected an integer, found
// a str". v must be a non-nil pointer ("invalid-target" otherwise).
func Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return errEncode("invalid-target", "Unmarshal needs a non-nil pointer, not %s", describeTarget(v))
	}
	if err := Validate(data); err != nil {
		return err
	}
	d := decoder{data: data}
	_, err := d.value(0, 0, rv.Elem())
	return err
}

func describeTarget(v any) string {
	if v == nil {
		return "nil"
	}
	t := reflect.TypeOf(v)
	if t.Kind() == reflect.Pointer {
		return "a nil " + t.String()
	}
	return t.String()
}

var unmarshalerType = reflect.TypeFor[Unmarshaler]()

// decoder fills Go values from a validated blob.
type decoder struct {
	data []byte
}

// head reads the head of the valid item at pos: its major type, argument
// (the float bits for a float, the simple value's number otherwise in major
// type 7) and where its content starts.
func (d *decoder) head(pos int) (major byte, arg uint64, next int) {
	initial := d.data[pos]
	major = initial >> 5
	info := initial & 0x1f
	n := 0
	switch info {
	case 24:
		n = 1
	case 25:
		n = 2
	case 26:
		n = 4
	case 27:
		n = 8
	default:
		return major, uint64(info), pos + 1
	}
	for _, b := range d.data[pos+1 : pos+1+n] {
		arg = arg<<8 | uint64(b)
	}
	return major, arg, pos + 1 + n
}

// skip returns the end of the valid item at pos.
func (d *decoder) skip(pos, depth int) int {
	p := parser{data: d.data, pos: pos}
	_, _ = p.item(depth, false, false)
	return p.pos
}

// generic decodes the valid item at pos into its generic form.
func (d *decoder) generic(pos, depth int) (any, int, error) {
	p := parser{data: d.data, pos: pos}
	v, err := p.item(depth, true, false)
	return v, p.pos, err
}

func (d *decoder) found(pos int) string {
	return phrase(kindAt(d.data, pos))
}

// expectedFor says what a Go type can be filled from, for error messages.
func expectedFor(t reflect.Type) string {
	switch t {
	case bigIntType:
		return "an integer"
	case taggedType:
		return "a tagged value"
	case pythonObjectType:
		return "a pickle"
	case mapType:
		return "a map"
	case tupleType:
		return "a tuple"
	case setType:
		return "a set"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a float"
	case reflect.String:
		return "a str"
	case reflect.Slice, reflect.Array:
		if isByteSeq(t) {
			return "bytes"
		}
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a map"
	}
	return "a value of type " + t.String()
}

func errUnsupportedTarget(t reflect.Type) *Error {
	return errEncode("unsupported-type", "cannot unmarshal into a value of type %s", t)
}

func errOutOfRange(what string, t reflect.Type) *Error {
	return errEncode("out-of-range", "%s does not fit in %s", what, t)
}

// value fills v from the valid item at pos (inside depth containers) and
// returns where the item ends.
func (d *decoder) value(pos, depth int, v reflect.Value) (int, error) {
	isNull := d.data[pos] == 0xf6
	for hops := 0; ; hops++ {
		if hops > MaxDepth {
			return 0, errEncode("unsupported-type", "cannot unmarshal into %s: more than %d pointers in a row", v.Type(), MaxDepth)
		}
		t := v.Type()
		if v.Kind() != reflect.Pointer && v.CanAddr() && reflect.PointerTo(t).Implements(unmarshalerType) && v.Addr().CanInterface() {
			return d.unmarshaler(pos, depth, v.Addr())
		}
		switch v.Kind() {
		case reflect.Pointer:
			if isNull {
				v.SetZero()
				return pos + 1, nil
			}
			if v.IsNil() {
				v.Set(reflect.New(t.Elem()))
			}
			v = v.Elem()
			continue
		case reflect.Interface:
			if !v.IsNil() && !isNull {
				if e := v.Elem(); e.Kind() == reflect.Pointer && !e.IsNil() {
					v = e
					continue
				}
			}
			if isNull {
				v.SetZero()
				return pos + 1, nil
			}
			if t.NumMethod() != 0 {
				return 0, errUnsupportedTarget(t)
			}
			g, end, err := d.generic(pos, depth)
			if err != nil {
				return 0, err
			}
			v.Set(reflect.ValueOf(g))
			return end, nil
		}
		break
	}
	t := v.Type()
	if isNull {
		switch v.Kind() {
		case reflect.Slice, reflect.Map:
			v.SetZero()
			return pos + 1, nil
		}
		return 0, errUnexpected(expectedFor(t), "null")
	}
	major, arg, next := d.head(pos)
	switch t {
	case taggedType:
		if major != 6 {
			return 0, errUnexpected("a tagged value", d.found(pos))
		}
		content, end, err := d.generic(next, depth+1)
		if err != nil {
			return 0, err
		}
		v.Set(reflect.ValueOf(Tagged{Tag: arg, Value: content}))
		return end, nil
	case pythonObjectType:
		if major != 6 || arg != TagPickle {
			return 0, errUnexpected("a pickle", d.found(pos))
		}
		content, end, err := d.generic(next, depth+1)
		if err != nil {
			return 0, err
		}
		v.Set(reflect.ValueOf(PythonObject(content.([]byte))))
		return end, nil
	case mapType:
		if major != 5 {
			return 0, errUnexpected("a map", d.found(pos))
		}
		entries := make(Map, 0, capacity(arg, len(d.data)-next))
		pos = next
		for range arg {
			k, end, err := d.generic(pos, depth+1)
			if err != nil {
				return 0, err
			}
			val, end2, err := d.generic(end, depth+1)
			if err != nil {
				return 0, err
			}
			entries = append(entries, MapEntry{Key: k, Value: val})
			pos = end2
		}
		v.Set(reflect.ValueOf(entries))
		return pos, nil
	}
	if major == 6 && tagKind(arg) == "tagged" {
		// An opaque tag: its content fills the value.
		return d.value(next, depth+1, v)
	}
	switch v.Kind() {
	case reflect.Bool:
		if major != 7 || (arg != 20 && arg != 21) {
			return 0, errUnexpected("a bool", d.found(pos))
		}
		v.SetBool(arg == 21)
		return next, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n, end, ok := d.integer(pos)
		if !ok {
			return 0, errUnexpected("an integer", d.found(pos))
		}
		return end, n.set(v)
	case reflect.Float32, reflect.Float64:
		var f float64
		end := next
		if major == 7 && d.data[pos] == 0xfb {
			f = math.Float64frombits(arg)
			if v.OverflowFloat(f) {
				return 0, errOutOfRange("float "+strconv.FormatFloat(f, 'g', -1, 64), t)
			}
		} else {
			n, nend, ok := d.integer(pos)
			if !ok {
				return 0, errUnexpected("a float", d.found(pos))
			}
			f = n.float()
			if math.IsInf(f, 0) || v.OverflowFloat(f) {
				return 0, errOutOfRange("integer "+n.String(), t)
			}
			end = nend
		}
		v.SetFloat(f)
		return end, nil
	case reflect.String:
		if major != 3 {
			return 0, errUnexpected("a str", d.found(pos))
		}
		end := next + int(arg)
		v.SetString(string(d.data[next:end]))
		return end, nil
	case reflect.Slice, reflect.Array:
		return d.sequence(pos, depth, v)
	case reflect.Map:
		return d.goMap(pos, depth, v)
	case reflect.Struct:
		if t == bigIntType {
			n, end, ok := d.integer(pos)
			if !ok {
				return 0, errUnexpected("an integer", d.found(pos))
			}
			v.Addr().Interface().(*big.Int).Set(n.big())
			return end, nil
		}
		return d.structure(pos, depth, v)
	}
	return 0, errUnsupportedTarget(t)
}

func (d *decoder) unmarshaler(pos, depth int, ptr reflect.Value) (int, error) {
	end := d.skip(pos, depth)
	err := ptr.Interface().(Unmarshaler).UnmarshalMFW(d.data[pos:end:end])
	if err == nil {
		return end, nil
	}
	if e, ok := err.(*Error); ok {
		return 0, e
	}
	return 0, &Error{Reason: "marshaler", Offset: -1, msg: fmt.Sprintf("UnmarshalMFW of %s: %v", ptr.Type(), err), err: err}
}

// intItem is an int item: arg (negative false) or -1 - arg (negative true)
// for major types 0 and 1, or a bignum.
type intItem struct {
	negative bool
	arg      uint64
	bignum   *big.Int
}

// integer reads the int item at pos, if it is one.
func (d *decoder) integer(pos int) (intItem, int, bool) {
	major, arg, next := d.head(pos)
	switch major {
	case 0, 1:
		return intItem{negative: major == 1, arg: arg}, next, true
	case 6:
		if arg == tagPosBignum || arg == tagNegBignum {
			_, n, start := d.head(next)
			end := start + int(n)
			return intItem{bignum: bignum(arg == tagNegBignum, d.data[start:end])}, end, true
		}
	}
	return intItem{}, 0, false
}

func (n intItem) String() string {
	if n.bignum != nil {
		return n.bignum.String()
	}
	return intString(n.negative, n.arg)
}

func (n intItem) big() *big.Int {
	if n.bignum != nil {
		return n.bignum
	}
	b := new(big.Int).SetUint64(n.arg)
	if n.negative {
		b.Not(b)
	}
	return b
}

func (n intItem) float() float64 {
	switch {
	case n.bignum != nil:
		f, _ := new(big.Float).SetInt(n.bignum).Float64()
		return f
	case !n.negative:
		return float64(n.arg)
	case n.arg <= math.MaxInt64:
		return float64(^int64(n.arg))
	}
	f, _ := new(big.Float).SetInt(n.big()).Float64()
	return f
}

// set stores the integer in v, an integer kind, if it fits.
func (n intItem) set(v reflect.Value) error {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n.bignum == nil && n.arg <= math.MaxInt64 {
			x := int64(n.arg)
			if n.negative {
				x = ^x
			}
			if !v.OverflowInt(x) {
				v.SetInt(x)
				return nil
			}
		}
	default:
		if n.bignum == nil && !n.negative && !v.OverflowUint(n.arg) {
			v.SetUint(n.arg)
			return nil
		}
	}
	return errOutOfRange("integer "+n.String(), v.Type())
}

// maxAlloc bounds what a slice is allocated with before its elements are
// read: beyond it, the slice grows as elements come.
const maxAlloc = 64 << 20

func (d *decoder) sequence(pos, depth int, v reflect.Value) (int, error) {
	t := v.Type()
	major, arg, next := d.head(pos)
	if major == 2 {
		data := d.data[next : next+int(arg)]
		end := next + int(arg)
		if isByteSeq(t) {
			if t.Kind() == reflect.Array {
				if t.Len() != len(data) {
					return 0, errUnexpected(fmt.Sprintf("%d bytes", t.Len()), fmt.Sprintf("%d bytes", len(data)))
				}
				for i, b := range data {
					v.Index(i).SetUint(uint64(b))
				}
				return end, nil
			}
			v.SetBytes(append(make([]byte, 0, len(data)), data...))
			return end, nil
		}
		// Bytes fill other sequences as a list of ints.
		if err := d.prepare(v, len(data), "bytes"); err != nil {
			return 0, err
		}
		var small [9]byte
		for i, b := range data {
			sub := decoder{data: appendHead(small[:0], 0, uint64(b))}
			if _, err := sub.value(0, depth+1, d.element(v, i)); err != nil {
				return 0, err
			}
		}
		return end, nil
	}
	count, itemDepth := arg, depth+1
	switch {
	case major == 4:
	case major == 6 && (arg == TagSet || arg == TagTuple):
		_, count, next = d.head(next)
		itemDepth = depth + 2
	default:
		return 0, errUnexpected(expectedFor(t), d.found(pos))
	}
	n := int(count) // at most len(d.data): the blob is valid
	if err := d.prepare(v, n, phrase(kindAt(d.data, pos))); err != nil {
		return 0, err
	}
	pos = next
	for i := range n {
		end, err := d.value(pos, itemDepth, d.element(v, i))
		if err != nil {
			return 0, err
		}
		pos = end
	}
	return pos, nil
}

// prepare readies slice or array v for n elements: a new slice (filled by
// element), or an array of exactly n elements.
func (d *decoder) prepare(v reflect.Value, n int, found string) error {
	t := v.Type()
	if t.Kind() == reflect.Array {
		if t.Len() != n {
			return errUnexpected(fmt.Sprintf("a list of %d items", t.Len()), fmt.Sprintf("%s of %d items", found, n))
		}
		return nil
	}
	size := int(t.Elem().Size())
	if size == 0 || n <= maxAlloc/size {
		v.Set(reflect.MakeSlice(t, n, n))
	} else {
		v.Set(reflect.MakeSlice(t, 0, maxAlloc/size))
	}
	return nil
}

// element is element i of a value readied by prepare, appended if needed.
func (d *decoder) element(v reflect.Value, i int) reflect.Value {
	if v.Kind() == reflect.Slice && i >= v.Len() {
		v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
	}
	return v.Index(i)
}

func (d *decoder) goMap(pos, depth int, v reflect.Value) (int, error) {
	t := v.Type()
	major, count, next := d.head(pos)
	if major != 5 {
		return 0, errUnexpected("a map", d.found(pos))
	}
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(t, capacity(count, len(d.data)-next)))
	}
	kt, et := t.Key(), t.Elem()
	pos = next
	for range count {
		key := reflect.New(kt).Elem()
		end, err := d.value(pos, depth+1, key)
		if err != nil {
			return 0, err
		}
		if !key.Comparable() {
			return 0, errEncode("unsupported-type", "%s cannot be a key of a Go %s (use encoding.Map)", d.found(pos), t)
		}
		val := reflect.New(et).Elem()
		if pos, err = d.value(end, depth+1, val); err != nil {
			return 0, err
		}
		v.SetMapIndex(key, val)
	}
	return pos, nil
}

func (d *decoder) structure(pos, depth int, v reflect.Value) (int, error) {
	major, count, next := d.head(pos)
	if major != 5 {
		return 0, errUnexpected("a map", d.found(pos))
	}
	info := cachedStructInfo(v.Type())
	pos = next
	for range count {
		var field *field
		keyMajor, n, keyStart := d.head(pos)
		valuePos := d.skip(pos, depth+1)
		if keyMajor == 3 {
			if i, ok := info.byName[string(d.data[keyStart:keyStart+int(n)])]; ok {
				field = &info.fields[i]
			}
		}
		if field == nil {
			pos = d.skip(valuePos, depth+1) // unknown keys are ignored
			continue
		}
		fv, err := settableField(v, field.index)
		if err != nil {
			return 0, err
		}
		if pos, err = d.value(valuePos, depth+1, fv); err != nil {
			return 0, err
		}
	}
	return pos, nil
}

// settableField is the field at index in struct v, allocating embedded
// pointers on the way.
func settableField(v reflect.Value, index []int) (reflect.Value, error) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !v.CanSet() {
					return reflect.Value{}, errEncode("unsupported-type",
						"cannot set the embedded pointer to the unexported struct type %s", v.Type().Elem())
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, nil
}
