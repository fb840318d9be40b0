package encoding

import (
	"cmp"
	"reflect"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// field is one struct field as a map entry, found by encoding/json's rules.
type field struct {
	name      string
	key       []byte // the encoding of name, as a text key
	tagged    bool   // named by a tag
	index     []int  // the path of field indexes from the outer struct
	typ       reflect.Type
	omitEmpty bool
	omitZero  bool
}

// structInfo is what the encoder and decoder need to know about a struct
// type.
type structInfo struct {
	fields []field        // sorted by key encoding: the order they are written in
	byName map[string]int // name -> index in fields
}

var structInfos sync.Map // reflect.Type -> *structInfo

func cachedStructInfo(t reflect.Type) *structInfo {
	if info, ok := structInfos.Load(t); ok {
		return info.(*structInfo)
	}
	fields := typeFields(t)
	for i := range fields {
		fields[i].key = appendText(nil, fields[i].name)
	}
	// Text keys sort by length first (the head holds it), then bytewise.
	slices.SortFunc(fields, func(a, b field) int { return compareTextKeys(a.name, b.name) })
	info := &structInfo{fields: fields, byName: make(map[string]int, len(fields))}
	for i, f := range fields {
		info.byName[f.name] = i
	}
	actual, _ := structInfos.LoadOrStore(t, info)
	return actual.(*structInfo)
}

// compareTextKeys compares two strings by the bytewise order of their
// encodings as text: shorter first, then bytewise.
func compareTextKeys(a, b string) int {
	if len(a) != len(b) {
		return cmp.Compare(len(a), len(b))
	}
	return strings.Compare(a, b)
}

// fieldTag is the name and options a field's `mfw` tag gives, else its
// `json` tag.
func fieldTag(sf reflect.StructField) (name string, omitEmpty, omitZero, skip bool) {
	tag, ok := sf.Tag.Lookup("mfw")
	if !ok {
		tag = sf.Tag.Get("json")
	}
	if tag == "-" {
		return "", false, false, true
	}
	name, opts, _ := strings.Cut(tag, ",")
	for opts != "" {
		var opt string
		opt, opts, _ = strings.Cut(opts, ",")
		switch opt {
		case "omitempty":
			omitEmpty = true
		case "omitzero":
			omitZero = true
		}
	}
	if !utf8.ValidString(name) {
		name = ""
	}
	return name, omitEmpty, omitZero, false
}

// typeFields returns the fields of struct type t that become map entries,
// in declaration order, following encoding/json: exported fields, and the
// fields of embedded structs (and pointers to structs) as if they were the
// outer struct's, with the shallowest (then the tagged) of several fields of
// one name winning and ambiguous names dropped.
func typeFields(t reflect.Type) []field {
	var current []field
	next := []field{{typ: t}}
	var count, nextCount map[reflect.Type]int
	visited := map[reflect.Type]bool{}
	var fields []field
	for len(next) > 0 {
		current, next = next, current[:0]
		count, nextCount = nextCount, map[reflect.Type]int{}
		for _, f := range current {
			if visited[f.typ] {
				continue
			}
			visited[f.typ] = true
			for i := range f.typ.NumField() {
				sf := f.typ.Field(i)
				if sf.Anonymous {
					ft := sf.Type
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				name, omitEmpty, omitZero, skip := fieldTag(sf)
				if skip {
					continue
				}
				index := make([]int, len(f.index)+1)
				copy(index, f.index)
				index[len(f.index)] = i
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if name != "" || !sf.Anonymous || ft.Kind() != reflect.Struct {
					tagged := name != ""
					if name == "" {
						name = sf.Name
					}
					fields = append(fields, field{name: name, tagged: tagged, index: index, typ: ft,
						omitEmpty: omitEmpty, omitZero: omitZero})
					if count[f.typ] > 1 {
						// Several embeddings of one type at this depth: add a
						// second copy so the field is seen as ambiguous below.
						fields = append(fields, fields[len(fields)-1])
					}
					continue
				}
				nextCount[ft]++
				if nextCount[ft] == 1 {
					next = append(next, field{name: ft.Name(), index: index, typ: ft})
				}
			}
		}
	}
	slices.SortFunc(fields, func(a, b field) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if c := cmp.Compare(len(a.index), len(b.index)); c != 0 {
			return c
		}
		if a.tagged != b.tagged {
			if a.tagged {
				return -1
			}
			return 1
		}
		return slices.Compare(a.index, b.index)
	})
	out := fields[:0]
	for advance, i := 0, 0; i < len(fields); i += advance {
		fi := fields[i]
		for advance = 1; i+advance < len(fields); advance++ {
			if fields[i+advance].name != fi.name {
				break
			}
		}
		if advance == 1 {
			out = append(out, fi)
			continue
		}
		dominant := fields[i : i+advance]
		if len(dominant[0].index) == len(dominant[1].index) && dominant[0].tagged == dominant[1].tagged {
			continue // ambiguous: dropped
		}
		out = append(out, dominant[0])
	}
	slices.SortFunc(out, func(a, b field) int { return slices.Compare(a.index, b.index) })
	return out
}
