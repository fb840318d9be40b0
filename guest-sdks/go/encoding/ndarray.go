package encoding

import (
	"encoding/binary"
	"fmt"
	"math"
)

// TagNdArray is the CBOR tag for a numpy array: an array of the dtype's
// name, the shape (a list of ints) and the elements as little-endian bytes
// in C order.
const TagNdArray = 0x6D660003

// itemSizes are the dtypes stored as [TagNdArray], with their element sizes.
var itemSizes = map[string]int{
	"bool": 1, "int8": 1, "int16": 2, "int32": 4, "int64": 8,
	"uint8": 1, "uint16": 2, "uint32": 4, "uint64": 8,
	"float16": 2, "float32": 4, "float64": 8, "complex64": 8, "complex128": 16,
}

// NdArray is a numpy array a Python step stored (self.x = np.zeros((3, 4))):
// its dtype as numpy names it ("float64"), its shape, and its elements as
// little-endian bytes in C (row-major) order. [Unmarshal] fills it from a
// [TagNdArray] item and [Marshal] writes it back as one.
//
//	var x encoding.NdArray
//	if err := encoding.Unmarshal(blob, &x); err != nil { ... }
//	values, err := x.Float64s() // in C order; x.Shape says how they nest
type NdArray struct {
	DType string
	Shape []int
	Data  []byte
}

// NewNdArray checks that data holds exactly the elements shape says.
func NewNdArray(dtype string, shape []int, data []byte) (NdArray, error) {
	size, ok := itemSizes[dtype]
	if !ok {
		return NdArray{}, &Error{Reason: "unexpected-kind", Offset: -1, msg: fmt.Sprintf("unknown numpy dtype %q", dtype)}
	}
	count := 1
	for _, d := range shape {
		if d < 0 || (d > 0 && count > math.MaxInt/d) {
			return NdArray{}, &Error{Reason: "out-of-range", Offset: -1, msg: fmt.Sprintf("bad numpy shape %v", shape)}
		}
		count *= d
	}
	if count > math.MaxInt/size || count*size != len(data) {
		return NdArray{}, &Error{Reason: "unexpected-kind", Offset: -1, msg: fmt.Sprintf(
			"numpy shape %v of %s does not match %d bytes of data", shape, dtype, len(data))}
	}
	return NdArray{DType: dtype, Shape: shape, Data: data}, nil
}

// Len is the number of elements.
func (a NdArray) Len() int {
	if size, ok := itemSizes[a.DType]; ok {
		return len(a.Data) / size
	}
	return 0
}

// UnmarshalMFW reads a [TagNdArray] item.
func (a *NdArray) UnmarshalMFW(data []byte) error {
	v, err := Decode(data)
	if err != nil {
		return err
	}
	t, ok := v.(Tagged)
	parts, isList := t.Value.([]any)
	if !ok || t.Tag != TagNdArray || !isList || len(parts) != 3 {
		kind, _ := KindOf(data)
		return &Error{Reason: "unexpected-kind", Offset: -1, msg: "expected a numpy array, found a " + kind}
	}
	dtype, okName := parts[0].(string)
	dims, okDims := parts[1].([]any)
	raw, okData := parts[2].([]byte)
	if !okName || !okDims || !okData {
		return &Error{Reason: "unexpected-kind", Offset: -1, msg: "malformed numpy array: not [dtype, shape, data]"}
	}
	shape := make([]int, len(dims))
	for i, d := range dims {
		n, isInt := d.(int64)
		if !isInt || n < 0 || n > math.MaxInt32 {
			return &Error{Reason: "out-of-range", Offset: -1, msg: "malformed numpy array: a dimension is not a size"}
		}
		shape[i] = int(n)
	}
	got, err := NewNdArray(dtype, shape, raw)
	if err != nil {
		return err
	}
	*a = got
	return nil
}

// MarshalMFW writes the array as a [TagNdArray] item.
func (a NdArray) MarshalMFW() ([]byte, error) {
	dims := make([]any, len(a.Shape))
	for i, d := range a.Shape {
		dims[i] = int64(d)
	}
	return Marshal(Tagged{Tag: TagNdArray, Value: []any{a.DType, dims, a.Data}})
}

// Float64s gives the elements as float64 for every real dtype (integers
// and bools converted, as numpy's astype(float) does).
func (a NdArray) Float64s() ([]float64, error) {
	n := a.Len()
	out := make([]float64, n)
	d := a.Data
	for i := range n {
		switch a.DType {
		case "float64":
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(d[8*i:]))
		case "float32":
			out[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:])))
		case "float16":
			out[i] = halfToFloat64(binary.LittleEndian.Uint16(d[2*i:]))
		case "complex64", "complex128":
			return nil, &Error{Reason: "unexpected-kind", Offset: -1, msg: "a " + a.DType + " array cannot be read as float64"}
		default:
			ints, err := a.Int64s()
			if err != nil {
				return nil, err
			}
			for j, v := range ints {
				out[j] = float64(v)
			}
			return out, nil
		}
	}
	return out, nil
}

// Int64s gives the elements of a bool or integer array as int64.
func (a NdArray) Int64s() ([]int64, error) {
	n := a.Len()
	out := make([]int64, n)
	d := a.Data
	for i := range n {
		switch a.DType {
		case "bool":
			out[i] = int64(min(d[i], 1))
		case "int8":
			out[i] = int64(int8(d[i]))
		case "uint8":
			out[i] = int64(d[i])
		case "int16":
			out[i] = int64(int16(binary.LittleEndian.Uint16(d[2*i:])))
		case "uint16":
			out[i] = int64(binary.LittleEndian.Uint16(d[2*i:]))
		case "int32":
			out[i] = int64(int32(binary.LittleEndian.Uint32(d[4*i:])))
		case "uint32":
			out[i] = int64(binary.LittleEndian.Uint32(d[4*i:]))
		case "int64":
			out[i] = int64(binary.LittleEndian.Uint64(d[8*i:]))
		case "uint64":
			u := binary.LittleEndian.Uint64(d[8*i:])
			if u > math.MaxInt64 {
				return nil, &Error{Reason: "out-of-range", Offset: -1, msg: "a uint64 element does not fit int64"}
			}
			out[i] = int64(u)
		default:
			return nil, &Error{Reason: "unexpected-kind", Offset: -1, msg: "a " + a.DType + " array cannot be read as int64"}
		}
	}
	return out, nil
}

// halfToFloat64 converts IEEE 754 binary16 exactly.
func halfToFloat64(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	frac := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * frac * math.Pow(2, -24)
	case 31:
		if frac == 0 {
			return sign * math.Inf(1)
		}
		return math.NaN()
	}
	return sign * (1 + frac/1024) * math.Pow(2, float64(exp-15))
}
