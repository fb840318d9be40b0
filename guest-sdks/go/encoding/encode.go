package encoding

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"unicode/utf8"
)

// Marshal returns the canonical encoding of v.
//
// The mapping is in the package documentation. The encoder does the
// canonicalisation itself: map entries and set elements are sorted by the
// bytewise order of their encodings (RFC 8949 §4.2.1), integers take the
// shortest form, every float is written in 64 bits with the one canonical
// NaN (-0.0 stays -0.0).
//
// It never writes a blob that [Decode] would reject: two map keys (or set
// elements) that encode to the same bytes give an [*Error] with reason
// "duplicate-key" ("duplicate-set-element"), nesting deeper than
// [MaxDepth] (a cyclic value, say) gives "too-deep", a string that is not
// valid UTF-8 gives "invalid-utf8", and a Go type that has no encoding
// (channels, functions, complex numbers, ...) gives "unsupported-type".
func Marshal(v any) ([]byte, error) {
	var e encoder
	if err := e.any(v, 0, 0); err != nil {
		return nil, err
	}
	return e.buf, nil
}

var (
	marshalerType    = reflect.TypeFor[Marshaler]()
	isZeroerType     = reflect.TypeFor[interface{ IsZero() bool }]()
	tupleType        = reflect.TypeFor[Tuple]()
	setType          = reflect.TypeFor[Set]()
	mapType          = reflect.TypeFor[Map]()
	taggedType       = reflect.TypeFor[Tagged]()
	pythonObjectType = reflect.TypeFor[PythonObject]()
	bigIntType       = reflect.TypeFor[big.Int]()
)

// encoder appends the encoding of values to buf.
//
// depth is the number of containers (arrays, maps, tags) around the value
// being written, as the decoder counts them; hops the number of pointers
// and interfaces followed since the last container, bounded so that a
// pointer cycle fails instead of hanging.
type encoder struct {
	buf []byte
}

func appendHead(b []byte, major byte, arg uint64) []byte {
	m := major << 5
	switch {
	case arg < 24:
		return append(b, m|byte(arg))
	case arg <= math.MaxUint8:
		return append(b, m|24, byte(arg))
	case arg <= math.MaxUint16:
		return append(b, m|25, byte(arg>>8), byte(arg))
	case arg <= math.MaxUint32:
		return append(b, m|26, byte(arg>>24), byte(arg>>16), byte(arg>>8), byte(arg))
	}
	return binary.BigEndian.AppendUint64(append(b, m|27), arg)
}

func appendInt(b []byte, i int64) []byte {
	if i >= 0 {
		return appendHead(b, 0, uint64(i))
	}
	return appendHead(b, 1, uint64(^i)) // -1 - i
}

func appendFloat(b []byte, f float64) []byte {
	bits := math.Float64bits(f)
	if f != f {
		bits = canonicalNaN
	}
	return binary.BigEndian.AppendUint64(append(b, 0xfb), bits)
}

// appendText appends s as text; s must be valid UTF-8.
func appendText(b []byte, s string) []byte {
	return append(appendHead(b, 3, uint64(len(s))), s...)
}

func appendBytes(b []byte, data []byte) []byte {
	return append(appendHead(b, 2, uint64(len(data))), data...)
}

func errEncodeTooDeep() *Error {
	return errEncode("too-deep", "cannot encode a value nested deeper than %d levels "+
		"(slices, arrays, maps, structs and tags count one level, tuples and sets two; is the value cyclic?)", MaxDepth)
}

func errPointerLoop(t reflect.Type) *Error {
	return errEncode("too-deep", "cannot encode a %s: more than %d pointers or interfaces in a row (is the value cyclic?)", t, MaxDepth)
}

// open checks that a container can start at depth.
func open(depth int) error {
	if depth >= MaxDepth {
		return errEncodeTooDeep()
	}
	return nil
}

func (e *encoder) text(s string) error {
	if !utf8.ValidString(s) {
		at := invalidUTF8([]byte(s))
		return errEncode("invalid-utf8", "cannot encode a string holding invalid UTF-8 (at byte %d of the string): text must be valid UTF-8", at)
	}
	e.buf = appendText(e.buf, s)
	return nil
}

// any encodes a value held in an interface, with fast paths for the generic
// forms Decode gives.
func (e *encoder) any(v any, depth, hops int) error {
	switch x := v.(type) {
	case nil:
		e.buf = append(e.buf, 0xf6)
	case bool:
		e.buf = appendBool(e.buf, x)
	case int:
		e.buf = appendInt(e.buf, int64(x))
	case int64:
		e.buf = appendInt(e.buf, x)
	case int32:
		e.buf = appendInt(e.buf, int64(x))
	case int16:
		e.buf = appendInt(e.buf, int64(x))
	case int8:
		e.buf = appendInt(e.buf, int64(x))
	case uint:
		e.buf = appendHead(e.buf, 0, uint64(x))
	case uint64:
		e.buf = appendHead(e.buf, 0, x)
	case uint32:
		e.buf = appendHead(e.buf, 0, uint64(x))
	case uint16:
		e.buf = appendHead(e.buf, 0, uint64(x))
	case uint8:
		e.buf = appendHead(e.buf, 0, uint64(x))
	case uintptr:
		e.buf = appendHead(e.buf, 0, uint64(x))
	case float64:
		e.buf = appendFloat(e.buf, x)
	case float32:
		e.buf = appendFloat(e.buf, float64(x))
	case string:
		return e.text(x)
	case []byte:
		if x == nil {
			e.buf = append(e.buf, 0xf6)
		} else {
			e.buf = appendBytes(e.buf, x)
		}
	case []any:
		if x == nil {
			e.buf = append(e.buf, 0xf6)
			return nil
		}
		if err := open(depth); err != nil {
			return err
		}
		e.buf = appendHead(e.buf, 4, uint64(len(x)))
		for _, item := range x {
			if err := e.any(item, depth+1, 0); err != nil {
				return err
			}
		}
	case map[string]any:
		if x == nil {
			e.buf = append(e.buf, 0xf6)
			return nil
		}
		if err := open(depth); err != nil {
			return err
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, compareTextKeys)
		e.buf = appendHead(e.buf, 5, uint64(len(keys)))
		for _, k := range keys {
			if err := e.text(k); err != nil {
				return err
			}
			if err := e.any(x[k], depth+1, 0); err != nil {
				return err
			}
		}
	case *big.Int:
		if x == nil {
			e.buf = append(e.buf, 0xf6)
			return nil
		}
		return e.bigInt(x, depth)
	case Tuple:
		return e.tuple(len(x), func(i int) error { return e.any(x[i], depth+2, 0) }, depth)
	case Set:
		return e.set(len(x), func(i int) error { return e.any(x[i], depth+2, 0) }, depth)
	case Map:
		return e.mapEntries(x, depth)
	case Tagged:
		return e.tagged(x, depth)
	case PythonObject:
		return e.pickle(x, depth)
	default:
		return e.value(reflect.ValueOf(v), depth, hops)
	}
	return nil
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 0xf5)
	}
	return append(b, 0xf4)
}

// bigInt writes n as major type 0/1 when it is in [-2^64, 2^64 - 1], else
// as a tag 2/3 bignum with a minimal big-endian magnitude.
func (e *encoder) bigInt(n *big.Int, depth int) error {
	if n.Sign() >= 0 {
		if n.IsUint64() {
			e.buf = appendHead(e.buf, 0, n.Uint64())
			return nil
		}
		return e.bignum(tagPosBignum, n.Bytes(), depth)
	}
	m := new(big.Int).Not(n) // -1 - n
	if m.IsUint64() {
		e.buf = appendHead(e.buf, 1, m.Uint64())
		return nil
	}
	return e.bignum(tagNegBignum, m.Bytes(), depth)
}

// bignum writes tag 2 or 3 around magnitude, or a plain integer when the
// magnitude (leading zeros dropped) fits 64 bits.
func (e *encoder) bignum(tag uint64, magnitude []byte, depth int) error {
	for len(magnitude) > 0 && magnitude[0] == 0 {
		magnitude = magnitude[1:]
	}
	if len(magnitude) <= 8 {
		var n uint64
		for _, b := range magnitude {
			n = n<<8 | uint64(b)
		}
		e.buf = appendHead(e.buf, byte(tag-tagPosBignum), n)
		return nil
	}
	if err := open(depth); err != nil {
		return err
	}
	e.buf = appendHead(e.buf, 6, tag)
	e.buf = appendBytes(e.buf, magnitude)
	return nil
}

// tuple writes a tuple of n elements; item(i) writes element i.
func (e *encoder) tuple(n int, item func(i int) error, depth int) error {
	if err := open(depth + 1); err != nil {
		return err
	}
	e.buf = appendHead(e.buf, 6, TagTuple)
	e.buf = appendHead(e.buf, 4, uint64(n))
	for i := range n {
		if err := item(i); err != nil {
			return err
		}
	}
	return nil
}

// set writes a set of n elements, sorted by their encodings; item(i) writes
// element i.
func (e *encoder) set(n int, item func(i int) error, depth int) error {
	if err := open(depth + 1); err != nil {
		return err
	}
	encoded, err := e.sortedEncodings(n, item)
	if err != nil {
		return err
	}
	for i := 1; i < len(encoded); i++ {
		if bytes.Equal(encoded[i-1].enc, encoded[i].enc) {
			return errEncode("duplicate-set-element", "two set elements encode to the same bytes: %s", describe(encoded[i].enc))
		}
	}
	e.buf = appendHead(e.buf, 6, TagSet)
	e.buf = appendHead(e.buf, 4, uint64(n))
	for _, k := range encoded {
		e.buf = append(e.buf, k.enc...)
	}
	return nil
}

// keyed is the encoding of item i of a map or set.
type keyed struct {
	enc []byte
	i   int
}

// sortedEncodings encodes n items with item(i) into a buffer of their own
// and returns their encodings sorted bytewise (equal ones in given order).
func (e *encoder) sortedEncodings(n int, item func(i int) error) ([]keyed, error) {
	saved := e.buf
	e.buf = nil
	ends := make([]int, n)
	for i := range n {
		if err := item(i); err != nil {
			e.buf = saved
			return nil, err
		}
		ends[i] = len(e.buf)
	}
	scratch := e.buf
	e.buf = saved
	out := make([]keyed, n)
	start := 0
	for i, end := range ends {
		out[i] = keyed{enc: scratch[start:end:end], i: i}
		start = end
	}
	slices.SortStableFunc(out, func(a, b keyed) int { return bytes.Compare(a.enc, b.enc) })
	return out, nil
}

// describe shows an encoding in an error message.
func describe(enc []byte) string {
	if len(enc) > 32 {
		return fmt.Sprintf("0x%x…", enc[:32])
	}
	return fmt.Sprintf("0x%x", enc)
}

// sortedMap writes a map of n entries: key(i) writes the key of entry i,
// value(i) its value.
func (e *encoder) sortedMap(n int, key, value func(i int) error, what string, depth int) error {
	if err := open(depth); err != nil {
		return err
	}
	keys, err := e.sortedEncodings(n, key)
	if err != nil {
		return err
	}
	for i := 1; i < len(keys); i++ {
		if bytes.Equal(keys[i-1].enc, keys[i].enc) {
			return errEncode("duplicate-key", "two keys of a %s encode to the same bytes: %s", what, describe(keys[i].enc))
		}
	}
	e.buf = appendHead(e.buf, 5, uint64(n))
	for _, k := range keys {
		e.buf = append(e.buf, k.enc...)
		if err := value(k.i); err != nil {
			return err
		}
	}
	return nil
}

func (e *encoder) mapEntries(m Map, depth int) error {
	return e.sortedMap(len(m),
		func(i int) error { return e.any(m[i].Key, depth+1, 0) },
		func(i int) error { return e.any(m[i].Value, depth+1, 0) },
		"encoding.Map", depth)
}

func (e *encoder) pickle(data []byte, depth int) error {
	if err := open(depth); err != nil {
		return err
	}
	e.buf = appendHead(e.buf, 6, TagPickle)
	e.buf = appendBytes(e.buf, data)
	return nil
}

func errBadTagged(tag uint64, expected string, content any) *Error {
	return errEncode("bad-tag-content", "cannot encode Tagged{%d, ...}: tag %d must wrap %s, not a %T", tag, tag, expected, content)
}

// tagged writes a Tagged: the tags the encoding defines as the values they
// stand for, any other tag as it is.
func (e *encoder) tagged(t Tagged, depth int) error {
	switch t.Tag {
	case tagPosBignum, tagNegBignum:
		b, ok := t.Value.([]byte)
		if !ok {
			return errBadTagged(t.Tag, "a []byte", t.Value)
		}
		return e.bignum(t.Tag, b, depth)
	case TagSet, TagTuple:
		rv := reflect.ValueOf(t.Value)
		if !isListLike(rv) {
			return errBadTagged(t.Tag, "a slice or an array", t.Value)
		}
		item := func(i int) error { return e.value(rv.Index(i), depth+2, 0) }
		if t.Tag == TagSet {
			return e.set(rv.Len(), item, depth)
		}
		return e.tuple(rv.Len(), item, depth)
	case TagPickle:
		switch b := t.Value.(type) {
		case []byte:
			return e.pickle(b, depth)
		case PythonObject:
			return e.pickle(b, depth)
		}
		return errBadTagged(t.Tag, "a []byte", t.Value)
	}
	if err := open(depth); err != nil {
		return err
	}
	e.buf = appendHead(e.buf, 6, t.Tag)
	return e.any(t.Value, depth+1, 0)
}

// isListLike says whether v is a slice or array of something other than
// bytes (a nil slice is empty here).
func isListLike(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Slice, reflect.Array:
		return !isByteSeq(v.Type())
	}
	return false
}

// isByteSeq says whether a slice or array type encodes as bytes.
func isByteSeq(t reflect.Type) bool {
	if t == tupleType || t == setType || t == mapType {
		return false
	}
	elem := t.Elem()
	return elem.Kind() == reflect.Uint8 && !reflect.PointerTo(elem).Implements(marshalerType)
}

func (e *encoder) marshaler(m Marshaler, t reflect.Type, depth int) error {
	b, err := m.MarshalMFW()
	if err != nil {
		return &Error{Reason: "marshaler", Offset: -1, msg: fmt.Sprintf("MarshalMFW of %s: %v", t, err), err: err}
	}
	p := parser{data: b}
	_, err = p.item(depth, false, false)
	if err == nil {
		err = p.finish()
	}
	if err != nil {
		inner := err.(*Error)
		return &Error{Reason: inner.Reason, Offset: -1,
			msg: fmt.Sprintf("MarshalMFW of %s returned an invalid blob: %s", t, inner.msg), err: inner}
	}
	e.buf = append(e.buf, b...)
	return nil
}

// value encodes a value by reflection.
func (e *encoder) value(v reflect.Value, depth, hops int) error {
	if !v.IsValid() {
		e.buf = append(e.buf, 0xf6)
		return nil
	}
	t := v.Type()
	kind := v.Kind()
	if v.CanInterface() {
		if t.Implements(marshalerType) {
			if (kind == reflect.Pointer || kind == reflect.Interface) && v.IsNil() {
				e.buf = append(e.buf, 0xf6)
				return nil
			}
			return e.marshaler(v.Interface().(Marshaler), t, depth)
		}
		if kind != reflect.Pointer && v.CanAddr() && reflect.PointerTo(t).Implements(marshalerType) {
			return e.marshaler(v.Addr().Interface().(Marshaler), t, depth)
		}
		switch t {
		case tupleType, setType, mapType, taggedType, pythonObjectType:
			return e.any(v.Interface(), depth, hops)
		case bigIntType:
			if v.CanAddr() {
				return e.bigInt(v.Addr().Interface().(*big.Int), depth)
			}
			n := v.Interface().(big.Int)
			return e.bigInt(&n, depth)
		}
	}
	switch kind {
	case reflect.Bool:
		e.buf = appendBool(e.buf, v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		e.buf = appendInt(e.buf, v.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		e.buf = appendHead(e.buf, 0, v.Uint())
	case reflect.Float32, reflect.Float64:
		e.buf = appendFloat(e.buf, v.Float())
	case reflect.String:
		return e.text(v.String())
	case reflect.Slice:
		if v.IsNil() {
			e.buf = append(e.buf, 0xf6)
			return nil
		}
		if isByteSeq(t) {
			e.buf = appendBytes(e.buf, v.Bytes())
			return nil
		}
		return e.list(v, depth)
	case reflect.Array:
		if isByteSeq(t) {
			if !v.CanAddr() {
				c := reflect.New(t).Elem()
				c.Set(v)
				v = c
			}
			e.buf = appendBytes(e.buf, v.Bytes())
			return nil
		}
		return e.list(v, depth)
	case reflect.Map:
		if v.IsNil() {
			e.buf = append(e.buf, 0xf6)
			return nil
		}
		return e.goMap(v, depth)
	case reflect.Struct:
		if t == bigIntType {
			return errEncode("unsupported-type", "cannot encode a big.Int reached through an unexported field")
		}
		return e.structure(v, depth)
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			e.buf = append(e.buf, 0xf6)
			return nil
		}
		if hops >= MaxDepth {
			return errPointerLoop(t)
		}
		elem := v.Elem()
		if kind == reflect.Interface && elem.CanInterface() {
			return e.any(elem.Interface(), depth, hops+1)
		}
		return e.value(elem, depth, hops+1)
	default:
		return errEncode("unsupported-type", "cannot encode a value of type %s: it has no mfw-cbor/1 encoding", t)
	}
	return nil
}

func (e *encoder) list(v reflect.Value, depth int) error {
	if err := open(depth); err != nil {
		return err
	}
	n := v.Len()
	e.buf = appendHead(e.buf, 4, uint64(n))
	for i := range n {
		if err := e.value(v.Index(i), depth+1, 0); err != nil {
			return err
		}
	}
	return nil
}

func (e *encoder) goMap(v reflect.Value, depth int) error {
	if err := open(depth); err != nil {
		return err
	}
	t := v.Type()
	n := v.Len()
	keys := make([]reflect.Value, 0, n)
	values := make([]reflect.Value, 0, n)
	for it := v.MapRange(); it.Next(); {
		keys = append(keys, it.Key())
		values = append(values, it.Value())
	}
	kt := t.Key()
	if kt.Kind() == reflect.String && !kt.Implements(marshalerType) && !reflect.PointerTo(kt).Implements(marshalerType) {
		// Text keys: distinct strings have distinct encodings, ordered by
		// length then bytes, so sort the strings themselves.
		order := make([]int, len(keys))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return compareTextKeys(keys[a].String(), keys[b].String()) })
		e.buf = appendHead(e.buf, 5, uint64(len(keys)))
		for _, i := range order {
			if err := e.text(keys[i].String()); err != nil {
				return err
			}
			if err := e.value(values[i], depth+1, 0); err != nil {
				return err
			}
		}
		return nil
	}
	return e.sortedMap(len(keys),
		func(i int) error { return e.value(keys[i], depth+1, 0) },
		func(i int) error { return e.value(values[i], depth+1, 0) },
		t.String(), depth)
}

func (e *encoder) structure(v reflect.Value, depth int) error {
	if err := open(depth); err != nil {
		return err
	}
	info := cachedStructInfo(v.Type())
	var small [16]reflect.Value
	var present []reflect.Value
	if len(info.fields) <= len(small) {
		present = small[:len(info.fields)]
	} else {
		present = make([]reflect.Value, len(info.fields))
	}
	count := 0
	for i := range info.fields {
		f := &info.fields[i]
		fv, ok := fieldByIndex(v, f.index)
		if !ok || (f.omitEmpty && isEmptyValue(fv)) || (f.omitZero && isZeroValue(fv)) {
			continue
		}
		present[i] = fv
		count++
	}
	e.buf = appendHead(e.buf, 5, uint64(count))
	for i, fv := range present {
		if !fv.IsValid() {
			continue
		}
		e.buf = append(e.buf, info.fields[i].key...)
		if err := e.value(fv, depth+1, 0); err != nil {
			return err
		}
	}
	return nil
}

// fieldByIndex is the field at index in struct v, or false when the path
// goes through a nil embedded pointer.
func fieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

// isEmptyValue is encoding/json's omitempty test.
func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// isZeroValue is encoding/json's omitzero test: an IsZero method if the type
// has one, else the zero value.
func isZeroValue(v reflect.Value) bool {
	if (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) && v.IsNil() {
		return true
	}
	if v.CanInterface() {
		if v.Type().Implements(isZeroerType) {
			return v.Interface().(interface{ IsZero() bool }).IsZero()
		}
		if v.CanAddr() && reflect.PointerTo(v.Type()).Implements(isZeroerType) {
			return v.Addr().Interface().(interface{ IsZero() bool }).IsZero()
		}
	}
	return v.IsZero()
}
