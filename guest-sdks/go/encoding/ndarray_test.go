package encoding

import (
	"encoding/hex"
	"reflect"
	"testing"
)

// What the Python SDK writes for np.arange(6, dtype=np.int32).reshape(2, 3).
const pythonInt32 = "da6d6600038365696e7433328202035818000000000100000002000000030000000400000005000000"

func TestAnArrayWrittenByPythonReadsWithItsShapeAndValues(t *testing.T) {
	blob, _ := hex.DecodeString(pythonInt32)
	var a NdArray
	if err := Unmarshal(blob, &a); err != nil {
		t.Fatal(err)
	}
	if a.DType != "int32" || !reflect.DeepEqual(a.Shape, []int{2, 3}) {
		t.Fatalf("got %s %v", a.DType, a.Shape)
	}
	ints, err := a.Int64s()
	if err != nil || !reflect.DeepEqual(ints, []int64{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("Int64s: %v %v", ints, err)
	}
	floats, err := a.Float64s()
	if err != nil || !reflect.DeepEqual(floats, []float64{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("Float64s: %v %v", floats, err)
	}
	back, err := Marshal(a)
	if err != nil || hex.EncodeToString(back) != pythonInt32 {
		t.Fatalf("written back as %x (%v)", back, err)
	}
}

func TestAnArrayWhoseDataDoesNotMatchItsShapeIsRefused(t *testing.T) {
	if _, err := NewNdArray("float64", []int{2, 2}, make([]byte, 24)); err == nil {
		t.Fatal("24 bytes for 4 float64s accepted")
	}
	if _, err := NewNdArray("object", []int{1}, make([]byte, 8)); err == nil {
		t.Fatal("an object dtype accepted")
	}
	blob, _ := Marshal(int64(3))
	var a NdArray
	if err := Unmarshal(blob, &a); err == nil || err.Error() != "expected a numpy array, found a int" {
		t.Fatalf("an int read as an array: %v", err)
	}
}

func TestHalfFloatsConvertExactly(t *testing.T) {
	a, err := NewNdArray("float16", []int{3}, []byte{0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := a.Float64s()
	if got[0] != 1 || got[1] != -2 || got[2] != 5.960464477539063e-08 {
		t.Fatalf("got %v", got)
	}
}
