// Package textmodel is the statistical text classifier the builtin scorer
// embeds: naive Bayes over the presence of word tokens, with feature weights
// learnt from the public SpamAssassin corpus plus spamruntest's hosting mail,
// and a logistic (Platt) calibration fitted on out-of-fold predictions so
// that its output reads as a probability.
//
// The model file is written by ./gen (go generate) and embedded; it is
// decoded on first use only, so a process that never scores pays nothing.
package textmodel

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"math"
	"sync"
)

//go:generate go run ./gen -out model.bin

//go:embed model.bin
var embedded []byte

// Header describes how a model file was made.
type Header struct {
	// Generator is the version of the training code; a model made by
	// another version is stale even when the corpus is unchanged.
	Generator string
	// InputHash is SHA-256 over every training message, in order, with
	// its label: the same corpus gives the same hash.
	InputHash [32]byte
	Ham, Spam int // training messages per class
	// MarkAlone is the probability at or above which the model's verdict
	// alone marks a message spam, chosen on out-of-fold predictions of the
	// training data (see TrainOptions.MarkAlone); 0 means never.
	MarkAlone float64
}

// Model is a trained classifier. It is safe for concurrent use.
type Model struct {
	Header
	// Combiner weighs the model's verdict with the rules' points; its
	// Threshold is 0 when the model file has none.
	Combiner Combiner
	// scale and bias map the naive Bayes log-odds into a calibrated
	// logistic probability; raw naive Bayes odds are far too confident.
	scale, bias float64
	index       map[string]int32
	weights     []float64
	seenPool    sync.Pool
}

var (
	defaultOnce  sync.Once
	defaultModel *Model
	defaultErr   error
)

// Default returns the embedded model, decoding it on the first call. It
// panics if the embedded file is corrupt, which a test catches.
func Default() *Model {
	defaultOnce.Do(func() { defaultModel, defaultErr = Load(embedded) })
	if defaultErr != nil {
		panic("textmodel: embedded model: " + defaultErr.Error())
	}
	return defaultModel
}

// Embedded returns the bytes of the embedded model file.
func Embedded() []byte { return embedded }

// The file format, all integers as varints:
//
//	magic "SRTM" version byte
//	generator string, input hash [32], ham, spam
//	scale, bias, markAlone as float64 bits (8 bytes little endian each)
//	the combiner: bias, model weight, threshold as float64 bits, n, then
//	n rules sorted by name: name length, name, weight as float64 bits
//	n, then n features sorted by token: shared prefix length with the
//	previous token, suffix length, suffix, weight·weightScale (zigzag)
//
// Sorted, front-coded tokens keep the file small and make the bytes a pure
// function of the trained weights.
const (
	magic         = "SRTM"
	formatVersion = 2
	weightScale   = 1024
	maxTokenLen   = 40
)

// ErrFormat reports a model file that is not one.
var ErrFormat = errors.New("textmodel: bad model file")

// Load decodes a model file.
func Load(data []byte) (*Model, error) {
	r := &reader{b: data}
	if !bytes.HasPrefix(data, []byte(magic)) || len(data) < len(magic)+1 || data[len(magic)] != formatVersion {
		return nil, ErrFormat
	}
	r.b = r.b[len(magic)+1:]
	m := &Model{}
	m.Generator = string(r.bytes(int(r.uvarint())))
	copy(m.InputHash[:], r.bytes(32))
	m.Ham, m.Spam = int(r.uvarint()), int(r.uvarint())
	m.scale = math.Float64frombits(binary.LittleEndian.Uint64(r.bytes(8)))
	m.bias = math.Float64frombits(binary.LittleEndian.Uint64(r.bytes(8)))
	m.MarkAlone = math.Float64frombits(binary.LittleEndian.Uint64(r.bytes(8)))
	if r.err == nil && !(m.MarkAlone >= 0 && m.MarkAlone <= 1) {
		return nil, fmt.Errorf("%w: mark-alone probability %v", ErrFormat, m.MarkAlone)
	}
	c := &m.Combiner
	c.Bias, c.Model, c.Threshold = r.float(), r.float(), r.float()
	nr := int(r.uvarint())
	if r.err != nil || nr > len(r.b) || !(c.Threshold >= 0 && c.Threshold <= 1) {
		return nil, ErrFormat
	}
	c.Rules = make(map[string]float64, nr)
	for range nr {
		name := string(r.bytes(int(r.uvarint())))
		c.Rules[name] = r.float()
	}
	n := int(r.uvarint())
	if r.err != nil || n > len(r.b) {
		return nil, ErrFormat
	}
	m.index = make(map[string]int32, n)
	m.weights = make([]float64, n)
	var prev []byte
	for i := range n {
		shared := int(r.uvarint())
		suffix := r.bytes(int(r.uvarint()))
		w := r.varint()
		if r.err != nil || shared > len(prev) {
			return nil, ErrFormat
		}
		tok := append(prev[:shared:shared], suffix...)
		m.index[string(tok)] = int32(i)
		m.weights[i] = float64(w) / weightScale
		prev = tok
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrFormat, len(r.b))
	}
	m.seenPool.New = func() any { return &seenSet{marks: make([]uint32, n)} }
	return m, nil
}

// seenSet counts each token once per message without a map: a mark equal
// to the current epoch means seen.
type seenSet struct {
	epoch uint32
	marks []uint32
}

// SpamProbability implements spamrun.TextModel: each distinct known token
// adds its weight to the log-odds once, so a word repeated a hundred times
// counts like one.
func (m *Model) SpamProbability(words iter.Seq[string]) float64 {
	s := m.seenPool.Get().(*seenSet)
	s.epoch++
	if s.epoch == 0 {
		clear(s.marks)
		s.epoch = 1
	}
	var logOdds float64
	for w := range words {
		i, ok := m.index[w]
		if !ok || s.marks[i] == s.epoch {
			continue
		}
		s.marks[i] = s.epoch
		logOdds += m.weights[i]
	}
	m.seenPool.Put(s)
	return m.calibrate(logOdds)
}

func (m *Model) calibrate(logOdds float64) float64 {
	return 1 / (1 + math.Exp(-(m.scale*logOdds + m.bias)))
}

// Features returns the number of tokens the model knows.
func (m *Model) Features() int { return len(m.weights) }

func (r *reader) float() float64 {
	return math.Float64frombits(binary.LittleEndian.Uint64(r.bytes(8)))
}

type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || n > len(r.b) {
		r.fail()
		// Zeroes of a bounded length let the caller finish decoding the
		// field before it sees r.err, whatever length a bad file claims.
		return make([]byte, min(max(n, 0), 64))
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = ErrFormat
	}
	r.b = nil
}
