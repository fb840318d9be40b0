// Package encoding implements mfw-cbor/1, the mfw artifact encoding, for Go
// steps.
//
// Every artifact value that steps exchange is stored as one blob in this
// encoding: deterministic CBOR (a subset of RFC 8949) in which every value
// has exactly one valid byte sequence, so that the same value gives the same
// bytes, and the same content hash, whichever language wrote it. [Marshal]
// always writes that form; [Decode], [Unmarshal] and [Validate] reject every
// other byte sequence with an [*Error] whose Reason is the keyword the shared
// test vectors (tests/vectors/encoding.json) use. The rules are in
// docs/encoding.md; this package mirrors the Rust reference implementation
// (runtime/encoding) check for check, with the same error messages.
//
// Go values map to the encoding as follows:
//
//	Go                                        mfw-cbor/1
//	nil, nil pointer/interface/slice/map      null
//	bool                                      bool
//	int..int64, uint..uint64, uintptr         int
//	big.Int, *big.Int                         int (bignum tags 2/3 beyond 64 bits)
//	float32 (widened), float64                64-bit float, one canonical NaN
//	string (valid UTF-8)                      str
//	[]byte, [N]byte                           bytes
//	other slices and arrays                   list
//	maps                                      map, keys sorted by their encodings
//	structs                                   map with text keys (field names)
//	Tuple                                     tuple (tag 0x6D660001 around a list)
//	Set                                       set (tag 258 around a sorted list)
//	Map                                       map with keys of any kind
//	PythonObject                              pickle (tag 0x6D660002 around bytes)
//	Tagged                                    any other tag, kept as it is
//	a type with MarshalMFW                    what that method returns
//
// Struct fields are named by an `mfw:"name"` tag, else a `json:"name"` tag,
// else the Go field name; "-" skips a field, ",omitempty" and ",omitzero"
// work as in encoding/json, unexported fields are skipped and embedded
// structs are flattened with encoding/json's rules.
//
// [Decode] gives the generic form of a blob: nil, bool, int64 (uint64 above
// math.MaxInt64, *big.Int beyond 64 bits), float64, string, []byte, []any,
// map[string]any (a map whose keys are all text) or [Map], [Tuple], [Set],
// [PythonObject] and [Tagged]. [Marshal] of a decoded value gives the blob
// back byte for byte. [Unmarshal] fills typed Go values, much like
// encoding/json.
//
// The package uses only the standard library, starts no goroutines, does no
// I/O and builds for GOOS=wasip1 GOARCH=wasm. The decoder recurses at most
// [MaxDepth] levels whatever its input, and byte strings and text are copied
// as whole runs.
package encoding

import (
	"fmt"
	"strconv"
)

// Encoding is the name of this encoding, as recorded next to stored
// artifacts. An incompatible change to the rules would get a new name.
const Encoding = "mfw-cbor/1"

// TagSet is the CBOR tag for a set: an array whose elements are sorted by
// their encodings, without duplicates.
const TagSet = 258

// TagTuple is the CBOR tag for a tuple: an array that a Python step sees as
// a tuple.
const TagTuple = 0x6D660001

// TagPickle is the CBOR tag for a Python object stored as a pickle: a byte
// string that only Python steps can read.
const TagPickle = 0x6D660002

// MaxDepth is the deepest nesting allowed: arrays, maps and tags each open
// one level (a tuple or a set counts two: its tag and its array), so 512
// arrays inside one another are valid and 513 are not.
const MaxDepth = 512

const (
	tagPosBignum = 2
	tagNegBignum = 3
	canonicalNaN = 0x7ff8000000000000
)

// Tuple is a tuple: a sequence that Python steps see as a tuple. It encodes
// as tag [TagTuple] around an array of its elements (a nil Tuple is the
// empty tuple).
type Tuple []any

// Set is a set of distinct values. It encodes as tag [TagSet] around an
// array of its elements sorted by their encodings; [Marshal] reports an error
// with reason "duplicate-set-element" when two elements encode to the same
// bytes. A nil Set is the empty set. [Decode] gives the elements in that
// canonical order.
type Set []any

// Map is a map whose keys can be of any kind (lists, tuples, floats, ...),
// as a list of entries. [Marshal] sorts the entries by the encodings of
// their keys and reports an error with reason "duplicate-key" when two keys
// encode to the same bytes; [Decode] gives a Map, in canonical order, for
// every map that has a key that is not text (and map[string]any for the
// others).
type Map []MapEntry

// MapEntry is one key/value pair of a [Map].
type MapEntry struct {
	Key   any
	Value any
}

// Tagged is a value under a CBOR tag this package gives no meaning to, kept
// as it is so that a step can pass it on unchanged.
//
// [Marshal] also accepts the tags the encoding defines and writes them as
// the value they stand for: Tag 2 or 3 around a []byte (a bignum, written in
// its canonical form), [TagSet] or [TagTuple] around a slice or array, and
// [TagPickle] around a []byte.
type Tagged struct {
	Tag   uint64
	Value any
}

// PythonObject is a Python object that has no other representation, as the
// bytes of its pickle (tag [TagPickle]). Only Python steps can turn it back
// into an object; Go keeps the bytes and can pass them on unchanged.
type PythonObject []byte

// Marshaler is implemented by types that supply their own encoding.
// MarshalMFW must return one valid mfw-cbor/1 item; [Marshal] validates it
// (at the depth where it appears) and reports an error otherwise.
type Marshaler interface {
	MarshalMFW() ([]byte, error)
}

// Unmarshaler is implemented by types that decode themselves. [Unmarshal]
// calls UnmarshalMFW with the canonical encoding of the item that fills the
// value (already validated); the method must copy the bytes if it keeps
// them.
type Unmarshaler interface {
	UnmarshalMFW(data []byte) error
}

// Error is why a blob is not valid mfw-cbor/1, why a value cannot be
// encoded, or why a valid blob does not fit a Go value.
//
// Reason is a short stable keyword. For invalid blobs it is the one the
// shared test vectors and every SDK use: "truncated", "trailing-bytes",
// "non-shortest", "indefinite-length", "reserved-info", "unexpected-break",
// "short-float", "non-canonical-nan", "simple-value", "invalid-utf8",
// "unsorted-keys", "duplicate-key", "unsorted-set",
// "duplicate-set-element", "bignum-fits", "bignum-leading-zero",
// "bad-tag-content" or "too-deep"; Error() is then the message the Rust
// decoder gives, such as "map keys out of canonical order at byte 4", and
// Offset the byte the error points at.
//
// Other errors have Offset -1 and one of these reasons:
// "unexpected-kind" (a valid value of another kind than the Go target
// needs, as in "expected an integer, found a str"; also [ArrayItems] of a
// non-list), "out-of-range" (a number that does not fit the Go target),
// "unsupported-type" (a Go type that has no encoding, or a target that
// cannot be filled), "invalid-target" ([Unmarshal] not given a non-nil
// pointer) and "marshaler" (a MarshalMFW or UnmarshalMFW method failed; see
// Unwrap). [Marshal] uses the format reasons too, for values that would
// give an invalid blob: "invalid-utf8", "duplicate-key",
// "duplicate-set-element", "bad-tag-content" and "too-deep".
type Error struct {
	// Reason is the keyword for the kind of error.
	Reason string
	// Offset is the byte offset in the blob the error points at, or -1.
	Offset int
	msg    string
	err    error
}

// Error returns the message, the same text as the Rust reference's for
// invalid blobs.
func (e *Error) Error() string { return e.msg }

// Unwrap returns the error of a failed MarshalMFW or UnmarshalMFW method,
// if that is what this error reports.
func (e *Error) Unwrap() error { return e.err }

func formatErr(reason string, offset int, format string, args ...any) *Error {
	return &Error{Reason: reason, Offset: offset, msg: fmt.Sprintf(format, args...)}
}

func errTruncated(offset int) *Error {
	return &Error{Reason: "truncated", Offset: offset,
		msg: "truncated input: the item at byte " + strconv.Itoa(offset) + " runs past the end"}
}

func errTooDeep(offset int) *Error {
	return &Error{Reason: "too-deep", Offset: offset,
		msg: "nesting deeper than 512 levels at byte " + strconv.Itoa(offset)}
}

func errUnexpected(expected, found string) *Error {
	return &Error{Reason: "unexpected-kind", Offset: -1, msg: "expected " + expected + ", found " + found}
}

func errEncode(reason string, format string, args ...any) *Error {
	return formatErr(reason, -1, format, args...)
}

// found says what an item whose first byte is initial is, for the
// bad-tag-content message (the Rust decoder's wording).
func found(initial byte) string {
	switch initial >> 5 {
	case 0, 1:
		return "an int"
	case 2:
		return "bytes"
	case 3:
		return "a str"
	case 4:
		return "a list"
	case 5:
		return "a map"
	case 6:
		return "a tagged value"
	}
	switch initial {
	case 0xf4, 0xf5:
		return "a bool"
	case 0xf6:
		return "null"
	case 0xf9, 0xfa, 0xfb:
		return "a float"
	}
	return "a simple value"
}

// phrase is a kind name with an article, for error messages ("a list", "an
// int"), as the Rust reference words them.
func phrase(kind string) string {
	switch kind {
	case "null":
		return "null"
	case "bool":
		return "a bool"
	case "int":
		return "an int"
	case "float":
		return "a float"
	case "str":
		return "a str"
	case "bytes":
		return "bytes"
	case "list":
		return "a list"
	case "map":
		return "a map"
	case "tuple":
		return "a tuple"
	case "set":
		return "a set"
	case "pickle":
		return "a pickle (a Python object only Python steps can read)"
	}
	return "a tagged value"
}
