package mfw

import (
	"fmt"
	"io"
	"runtime/debug"

	"mfw.dev/sdk/internal/wit/mfw_flow_artifacts"
	"mfw.dev/sdk/internal/wit/mfw_flow_streams"
)

// Encoded values this large or larger go to the host a piece at a time,
// so the host stores them as they come instead of holding a copy.
const streamFrom = 4 << 20

// The size of the pieces handed to the host.
const piece = 1 << 20

// setEncoded hands the host an artifact's encoded value, in pieces once
// it is large.
func setEncoded(name string, data []byte) error {
	if len(data) < streamFrom {
		r := mfw_flow_artifacts.Set(name, data)
		if r.IsErr() {
			return artifactError(r.Err())
		}
		return nil
	}
	started := mfw_flow_streams.StartSet(name)
	if started.IsErr() {
		return artifactError(started.Err())
	}
	writer := started.Ok()
	if _, err := writePieces(writer, data); err != nil {
		writer.Drop()
		return err
	}
	if r := mfw_flow_streams.FinishSet(writer); r.IsErr() {
		return artifactError(r.Err())
	}
	return nil
}

// writePieces hands data to writer a piece at a time; returns how much of
// it the host took.
func writePieces(writer *mfw_flow_streams.ValueWriter, data []byte) (int, error) {
	for at := 0; at < len(data); {
		end := min(at+piece, len(data))
		if r := writer.Write(data[at:end]); r.IsErr() {
			return at, artifactError(r.Err())
		}
		at = end
	}
	return len(data), nil
}

// BytesWriter writes a byte-string artifact of a length given up front, a
// piece at a time (an io.Writer); Close sets it. Nothing is set if it is
// never closed.
//
//	w, err := ctx.WriteBytes("data", uint64(len(data)))
//	if err != nil { return err }
//	if _, err := w.Write(data); err != nil { return err }
//	return w.Close()
type BytesWriter struct {
	writer *mfw_flow_streams.ValueWriter
	name   string
	left   uint64
}

// WriteBytes starts writing artifact name, a byte string of length bytes
// (a Python step reads it as bytes), a piece at a time: the way to set a
// value too large to hold twice.
func (c *Context) WriteBytes(name string, length uint64) (*BytesWriter, error) {
	started := mfw_flow_streams.StartSet(name)
	if started.IsErr() {
		return nil, artifactError(started.Err())
	}
	w := &BytesWriter{writer: started.Ok(), name: name, left: length}
	if r := w.writer.Write(bytesHead(length)); r.IsErr() {
		w.writer.Drop()
		return nil, artifactError(r.Err())
	}
	return w, nil
}

// Write appends p to the value.
func (w *BytesWriter) Write(p []byte) (int, error) {
	if uint64(len(p)) > w.left {
		return 0, fmt.Errorf("artifact %q would be longer than the length it was started with", w.name)
	}
	written, err := writePieces(w.writer, p)
	w.left -= uint64(written)
	return written, err
}

// Close sets the artifact, once all of its bytes are written.
func (w *BytesWriter) Close() error {
	if w.left != 0 {
		w.writer.Drop()
		return &ArtifactError{"ArtifactLengthError", fmt.Sprintf("artifact %q is %d bytes short of the length it was started with", w.name, w.left)}
	}
	if r := mfw_flow_streams.FinishSet(w.writer); r.IsErr() {
		return artifactError(r.Err())
	}
	return nil
}

// BytesReader reads a byte-string artifact a piece at a time (an
// io.Reader), checked against its hash by the time it reports io.EOF.
type BytesReader struct {
	reader *mfw_flow_streams.ValueReader
	length uint64
	left   uint64
}

// ReadBytes opens artifact name, a byte string, to read a piece at a time.
func (c *Context) ReadBytes(name string) (*BytesReader, error) {
	opened := mfw_flow_streams.OpenGet(name)
	if opened.IsErr() {
		return nil, artifactError(opened.Err())
	}
	reader := opened.Ok()
	notBytes := &ArtifactError{"ArtifactTypeError", fmt.Sprintf("artifact %q is not a byte string", name)}
	read := func(n uint32) ([]byte, error) {
		resume := pauseGC()
		r := reader.Read(n)
		resume()
		if r.IsErr() {
			return nil, artifactError(r.Err())
		}
		return r.Ok(), nil
	}
	first, err := read(1)
	if err != nil {
		reader.Drop()
		return nil, err
	}
	if len(first) != 1 || first[0]>>5 != 2 || first[0]&0x1f > 27 {
		reader.Drop()
		return nil, notBytes
	}
	length := uint64(first[0] & 0x1f)
	if info := first[0] & 0x1f; info >= 24 {
		width := 1 << (info - 24)
		var arg []byte
		for len(arg) < width {
			more, err := read(uint32(width - len(arg)))
			if err != nil || len(more) == 0 {
				reader.Drop()
				if err == nil {
					err = notBytes
				}
				return nil, err
			}
			arg = append(arg, more...)
		}
		length = 0
		for _, b := range arg {
			length = length<<8 | uint64(b)
		}
	}
	return &BytesReader{reader: reader, length: length, left: length}, nil
}

// Len is the byte string's length.
func (r *BytesReader) Len() uint64 { return r.length }

// Read reads the next bytes into p; io.EOF once the whole value is read
// and checked.
func (r *BytesReader) Read(p []byte) (int, error) {
	want := uint64(len(p))
	want = min(want, r.left, 16*piece)
	resume := pauseGC()
	got := r.reader.Read(uint32(max(want, 1)))
	resume()
	if got.IsErr() {
		return 0, artifactError(got.Err())
	}
	data := got.Ok()
	if uint64(len(data)) > r.left {
		return 0, fmt.Errorf("the value holds more than its byte string")
	}
	n := copy(p, data)
	r.left -= uint64(n)
	if n == 0 {
		if r.left > 0 {
			return 0, io.ErrUnexpectedEOF
		}
		r.reader.Drop()
		return 0, io.EOF
	}
	return n, nil
}

// pauseGC turns the garbage collector off until the function it returns is
// called, around a host call returning bytes. The host puts the bytes in
// guest memory through cabi_realloc, and a collection started there reads
// the wall clock: an import, which the component model forbids inside
// cabi_realloc (the task traps with "cannot leave component instance"). A
// large value makes that collection likely.
func pauseGC() (resume func()) {
	previous := debug.SetGCPercent(-1)
	return func() { debug.SetGCPercent(previous) }
}

// bytesHead is the CBOR head of a byte string of length bytes, in its
// shortest form.
func bytesHead(length uint64) []byte {
	switch {
	case length < 24:
		return []byte{0x40 | byte(length)}
	case length <= 0xff:
		return []byte{0x58, byte(length)}
	case length <= 0xffff:
		return []byte{0x59, byte(length >> 8), byte(length)}
	case length <= 0xffff_ffff:
		return []byte{0x5a, byte(length >> 24), byte(length >> 16), byte(length >> 8), byte(length)}
	default:
		head := []byte{0x5b}
		for shift := 56; shift >= 0; shift -= 8 {
			head = append(head, byte(length>>shift))
		}
		return head
	}
}
