package encoding

import (
	"bytes"
	"math"
	"math/big"
	"strconv"
	"unicode/utf8"
)

// Decode strictly decodes one canonical blob into its generic Go form,
// rejecting anything that is not exactly what [Marshal] would write for it.
//
// The checks are those of the Rust reference: shortest heads, definite
// lengths, no reserved additional info, 64-bit floats only with the
// canonical NaN, only the simple values false/true/null, valid UTF-8, map
// keys and set elements strictly sorted by their encodings (so no
// duplicates), bignums only around bytes without a leading zero and only
// beyond 64 bits, set and tuple tags around arrays, the pickle tag around
// bytes, nesting at most [MaxDepth] and no bytes after the item. The first
// problem met reading from the start is reported, as an [*Error].
//
// The generic form of each kind: null is nil; bool; int is int64, or uint64
// above math.MaxInt64, or *big.Int outside [math.MinInt64,
// math.MaxUint64]; float is float64; str is string; bytes is []byte (a
// copy); list is []any; map is map[string]any when every key is text and
// [Map] otherwise; tuple is [Tuple]; set is [Set]; pickle is
// [PythonObject]; any other tag is [Tagged]. Marshal of the result gives
// data back.
func Decode(data []byte) (any, error) {
	p := parser{data: data}
	v, err := p.item(0, true, false)
	if err != nil {
		return nil, err
	}
	if err := p.finish(); err != nil {
		return nil, err
	}
	return v, nil
}

// Validate runs every check of [Decode] without building a value. Byte
// strings are skipped without being read, so a 100 MB bytes item costs the
// same as an empty one; text is still checked for UTF-8.
func Validate(data []byte) error {
	p := parser{data: data}
	if _, err := p.item(0, false, false); err != nil {
		return err
	}
	if err := p.finish(); err != nil {
		return err
	}
	return nil
}

// ArrayItems returns the encodings of the elements of a top-level list, for
// foreach: each slice is itself a valid blob, and aliases data.
//
// The blob is validated first. A tuple or a set (an array under [TagTuple]
// or [TagSet]) is accepted as well; any other kind gives an [*Error] with
// reason "unexpected-kind" ("expected a list, found a map").
func ArrayItems(data []byte) ([][]byte, error) {
	kind, err := KindOf(data)
	if err != nil {
		return nil, err
	}
	if kind != "list" && kind != "tuple" && kind != "set" {
		return nil, errUnexpected("a list", phrase(kind))
	}
	p := parser{data: data}
	depth := 1
	if data[0]>>5 == 6 {
		p.pos = 1
		if _, err := p.head(0, data[0]); err != nil {
			return nil, err
		}
		depth = 2
	}
	start := p.pos
	p.pos++
	count, err := p.head(start, data[start])
	if err != nil {
		return nil, err
	}
	items := make([][]byte, 0, capacity(count, p.remaining()))
	for range count {
		itemStart := p.pos
		if _, err := p.item(depth, false, false); err != nil {
			return nil, err
		}
		items = append(items, data[itemStart:p.pos:p.pos])
	}
	return items, nil
}

// KindOf returns the kind of the value in a blob, after validating it:
// "null", "bool", "int" (bignums too), "float", "str", "bytes", "list",
// "map", "tuple", "set", "pickle" or "tagged" (any other tag).
func KindOf(data []byte) (string, error) {
	if err := Validate(data); err != nil {
		return "", err
	}
	return kindAt(data, 0), nil
}

// kindAt is the kind of the valid item at pos.
func kindAt(data []byte, pos int) string {
	initial := data[pos]
	switch initial >> 5 {
	case 0, 1:
		return "int"
	case 2:
		return "bytes"
	case 3:
		return "str"
	case 4:
		return "list"
	case 5:
		return "map"
	case 6:
		p := parser{data: data, pos: pos + 1}
		tag, _ := p.head(pos, initial)
		return tagKind(tag)
	}
	switch initial {
	case 0xf4, 0xf5:
		return "bool"
	case 0xf6:
		return "null"
	}
	return "float"
}

func tagKind(tag uint64) string {
	switch tag {
	case tagPosBignum, tagNegBignum:
		return "int"
	case TagSet:
		return "set"
	case TagTuple:
		return "tuple"
	case TagPickle:
		return "pickle"
	}
	return "tagged"
}

// capacity is a capacity for count items with remaining bytes left: never
// more than the input could hold, so a huge declared count allocates
// nothing.
func capacity(count uint64, remaining int) int {
	if count < uint64(remaining) {
		return int(count)
	}
	return remaining
}

// parser reads one item of data from pos. It recurses once per container,
// and refuses containers beyond MaxDepth before recursing, so its stack is
// bounded whatever the input.
type parser struct {
	data []byte
	pos  int
}

func (p *parser) remaining() int { return len(p.data) - p.pos }

func (p *parser) finish() error {
	if p.pos < len(p.data) {
		return formatErr("trailing-bytes", p.pos, "trailing bytes at byte %d: a blob holds exactly one item", p.pos)
	}
	return nil
}

// take returns n bytes of the item that starts at start.
func (p *parser) take(n uint64, start int) ([]byte, error) {
	if n > uint64(p.remaining()) {
		return nil, errTruncated(start)
	}
	b := p.data[p.pos : p.pos+int(n)]
	p.pos += int(n)
	return b, nil
}

// head returns the argument of a major type 0–6 head whose first byte
// (already read, at start) is initial, checked to be definite and shortest.
func (p *parser) head(start int, initial byte) (uint64, error) {
	major := initial >> 5
	info := initial & 0x1f
	var n int
	var least uint64
	switch {
	case info < 24:
		return uint64(info), nil
	case info == 24:
		n, least = 1, 24
	case info == 25:
		n, least = 2, 0x100
	case info == 26:
		n, least = 4, 0x10000
	case info == 27:
		n, least = 8, 0x100000000
	case info <= 30 || major < 2 || major > 5:
		return 0, formatErr("reserved-info", start, "reserved additional info %d in major type %d at byte %d", info, major, start)
	default:
		what := [...]string{"bytes", "text", "array", "map"}[major-2]
		return 0, formatErr("indefinite-length", start, "indefinite-length %s at byte %d: only definite lengths are allowed", what, start)
	}
	if p.remaining() < n {
		return 0, errTruncated(start)
	}
	var arg uint64
	for _, b := range p.data[p.pos : p.pos+n] {
		arg = arg<<8 | uint64(b)
	}
	p.pos += n
	if arg < least {
		what := "length"
		switch major {
		case 0, 1:
			what = "integer"
		case 6:
			what = "tag number"
		}
		return 0, formatErr("non-shortest", start, "non-shortest %s head at byte %d", what, start)
	}
	return arg, nil
}

// item parses one item; depth is the number of containers around it. With
// build false nothing is allocated and nil is returned. set says that an
// array here is the content of a set tag, whose elements must be strictly
// increasing.
func (p *parser) item(depth int, build, set bool) (any, error) {
	start := p.pos
	if start >= len(p.data) {
		return nil, errTruncated(start)
	}
	initial := p.data[start]
	p.pos++
	major := initial >> 5
	if major == 7 {
		return p.simple(start, initial, build)
	}
	arg, err := p.head(start, initial)
	if err != nil {
		return nil, err
	}
	switch major {
	case 0:
		if !build {
			return nil, nil
		}
		if arg <= math.MaxInt64 {
			return int64(arg), nil
		}
		return arg, nil
	case 1:
		if !build {
			return nil, nil
		}
		if arg <= math.MaxInt64 {
			return ^int64(arg), nil
		}
		n := new(big.Int).SetUint64(arg)
		return n.Not(n), nil
	case 2:
		b, err := p.take(arg, start)
		if err != nil || !build {
			return nil, err
		}
		return bytes.Clone(b), nil
	case 3:
		contentStart := p.pos
		b, err := p.take(arg, start)
		if err != nil {
			return nil, err
		}
		if bad := invalidUTF8(b); bad >= 0 {
			at := contentStart + bad
			return nil, formatErr("invalid-utf8", at, "invalid UTF-8 in text at byte %d", at)
		}
		if !build {
			return nil, nil
		}
		return string(b), nil
	}
	if depth >= MaxDepth {
		return nil, errTooDeep(start)
	}
	switch major {
	case 4:
		return p.array(arg, depth, build, set)
	case 5:
		return p.mapping(arg, depth, build)
	}
	return p.tag(arg, start, depth, build)
}

func (p *parser) array(count uint64, depth int, build, set bool) (any, error) {
	var items []any
	if build {
		items = make([]any, 0, capacity(count, p.remaining()))
	}
	prevStart, prevEnd := -1, -1
	for range count {
		itemStart := p.pos
		v, err := p.item(depth+1, build, false)
		if err != nil {
			return nil, err
		}
		if set {
			if prevStart >= 0 {
				switch bytes.Compare(p.data[prevStart:prevEnd], p.data[itemStart:p.pos]) {
				case 0:
					return nil, formatErr("duplicate-set-element", itemStart, "duplicate set element at byte %d", itemStart)
				case 1:
					return nil, formatErr("unsorted-set", itemStart, "set elements out of canonical order at byte %d", itemStart)
				}
			}
			prevStart, prevEnd = itemStart, p.pos
		}
		if build {
			items = append(items, v)
		}
	}
	if !build {
		return nil, nil
	}
	return items, nil
}

func (p *parser) mapping(count uint64, depth int, build bool) (any, error) {
	var entries []MapEntry
	allText := true
	if build {
		entries = make([]MapEntry, 0, capacity(count, p.remaining()/2))
	}
	prevStart, prevEnd := -1, -1
	for range count {
		keyStart := p.pos
		k, err := p.item(depth+1, build, false)
		if err != nil {
			return nil, err
		}
		// The key is checked against the previous one before its value is read.
		if prevStart >= 0 {
			switch bytes.Compare(p.data[prevStart:prevEnd], p.data[keyStart:p.pos]) {
			case 0:
				return nil, formatErr("duplicate-key", keyStart, "duplicate map key at byte %d", keyStart)
			case 1:
				return nil, formatErr("unsorted-keys", keyStart, "map keys out of canonical order at byte %d", keyStart)
			}
		}
		prevStart, prevEnd = keyStart, p.pos
		v, err := p.item(depth+1, build, false)
		if err != nil {
			return nil, err
		}
		if build {
			if _, ok := k.(string); !ok {
				allText = false
			}
			entries = append(entries, MapEntry{Key: k, Value: v})
		}
	}
	if !build {
		return nil, nil
	}
	if !allText {
		return Map(entries), nil
	}
	m := make(map[string]any, len(entries))
	for _, e := range entries {
		m[e.Key.(string)] = e.Value
	}
	return m, nil
}

// tag parses what follows the head of tag number tag (which started at
// start, at the given depth): a bignum completely, or the tag's content.
func (p *parser) tag(tag uint64, start int, depth int, build bool) (any, error) {
	innerStart := p.pos
	if innerStart >= len(p.data) {
		return nil, errTruncated(start)
	}
	inner := p.data[innerStart]
	needs := func(major byte, expected string) error {
		if inner>>5 == major {
			return nil
		}
		return formatErr("bad-tag-content", start, "tag %d at byte %d must wrap %s, found %s", tag, start, expected, found(inner))
	}
	switch tag {
	case tagPosBignum, tagNegBignum:
		if err := needs(2, "bytes"); err != nil {
			return nil, err
		}
		p.pos++
		n, err := p.head(innerStart, inner)
		if err != nil {
			return nil, err
		}
		magnitude, err := p.take(n, innerStart)
		if err != nil {
			return nil, err
		}
		if len(magnitude) > 0 && magnitude[0] == 0 {
			return nil, formatErr("bignum-leading-zero", start, "bignum at byte %d has a leading zero byte", start)
		}
		if len(magnitude) <= 8 {
			return nil, formatErr("bignum-fits", start, "bignum at byte %d fits a plain integer (major type 0/1)", start)
		}
		if !build {
			return nil, nil
		}
		return bignum(tag == tagNegBignum, magnitude), nil
	case TagSet, TagTuple:
		if err := needs(4, "an array"); err != nil {
			return nil, err
		}
		v, err := p.item(depth+1, build, tag == TagSet)
		if err != nil || !build {
			return nil, err
		}
		if tag == TagSet {
			return Set(v.([]any)), nil
		}
		return Tuple(v.([]any)), nil
	case TagPickle:
		if err := needs(2, "bytes"); err != nil {
			return nil, err
		}
		v, err := p.item(depth+1, build, false)
		if err != nil || !build {
			return nil, err
		}
		return PythonObject(v.([]byte)), nil
	}
	v, err := p.item(depth+1, build, false)
	if err != nil || !build {
		return nil, err
	}
	return Tagged{Tag: tag, Value: v}, nil
}

// simple parses major type 7: false, true, null and 64-bit floats only.
func (p *parser) simple(start int, initial byte, build bool) (any, error) {
	info := initial & 0x1f
	switch info {
	case 20:
		return false, nil
	case 21:
		return true, nil
	case 22:
		return nil, nil
	case 24:
		if p.pos >= len(p.data) {
			return nil, errTruncated(start)
		}
		return nil, errSimple(start, p.data[p.pos])
	case 25, 26:
		bits := 16
		if info == 26 {
			bits = 32
		}
		return nil, formatErr("short-float", start, "%d-bit float at byte %d: floats must be 64-bit (0xfb)", bits, start)
	case 27:
		b, err := p.take(8, start)
		if err != nil {
			return nil, err
		}
		var bits uint64
		for _, c := range b {
			bits = bits<<8 | uint64(c)
		}
		f := math.Float64frombits(bits)
		if f != f && bits != canonicalNaN {
			return nil, formatErr("non-canonical-nan", start, "non-canonical NaN at byte %d: NaN must be 0xfb7ff8000000000000", start)
		}
		if !build {
			return nil, nil
		}
		return f, nil
	case 28, 29, 30:
		return nil, formatErr("reserved-info", start, "reserved additional info %d in major type 7 at byte %d", info, start)
	case 31:
		return nil, formatErr("unexpected-break", start, "unexpected break (0xff) at byte %d", start)
	}
	return nil, errSimple(start, info)
}

func errSimple(start int, value byte) *Error {
	return formatErr("simple-value", start, "simple value %d at byte %d is not allowed (only false, true and null)", value, start)
}

// bignum is the value of a tag 2 (negative false: the magnitude) or tag 3
// (negative true: -1 - magnitude) bignum.
func bignum(negative bool, magnitude []byte) *big.Int {
	n := new(big.Int).SetBytes(magnitude)
	if negative {
		n.Not(n) // -1 - n
	}
	return n
}

// invalidUTF8 is the offset of the first byte of b that does not start a
// valid UTF-8 sequence (where Rust's valid_up_to points), or -1.
func invalidUTF8(b []byte) int {
	if utf8.Valid(b) {
		return -1
	}
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return i
		}
		i += size
	}
	return len(b)
}

// intString is the decimal value of an int item: arg for major type 0, -1 -
// arg for major type 1.
func intString(negative bool, arg uint64) string {
	if !negative {
		return strconv.FormatUint(arg, 10)
	}
	if arg < math.MaxUint64 {
		return "-" + strconv.FormatUint(arg+1, 10)
	}
	return "-18446744073709551616"
}
