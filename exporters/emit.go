package exporters

import (
	"cmp"
	"errors"
	"slices"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// emitter builds the series of one Collect: the path label, the family's
// own labels and the union of extra labels. A scrape of a thousand paths
// has tens of thousands of series, so it shares what it can: one Desc per
// family, one set of label pairs (path and extra labels) per path, and
// series that write themselves without the validation and sorting of
// prometheus.NewConstMetric (label names are checked when paths are
// configured; values are checked here).
type emitter struct {
	ch       chan<- prometheus.Metric
	extra    []string
	omitPath bool
	descs    map[string]*prometheus.Desc

	// cur is the path whose shared pairs are in base (sorted by name).
	cur  *pathState
	base []*dto.LabelPair
	bad  bool // a label value of cur is not valid UTF-8
}

// desc returns f's Desc for the path series of this Collect.
func (e *emitter) desc(f family) *prometheus.Desc {
	if d, ok := e.descs[f.name]; ok {
		return d
	}
	names := make([]string, 0, 1+len(f.labels)+len(e.extra))
	if !e.omitPath {
		names = append(names, "path")
	}
	names = append(names, f.labels...)
	names = append(names, e.extra...)
	d := prometheus.NewDesc(f.name, f.help, names, nil)
	if e.descs == nil {
		e.descs = make(map[string]*prometheus.Desc, len(families))
	}
	e.descs[f.name] = d
	return d
}

// pathPairs returns the label pairs every series of st has.
func (e *emitter) pathPairs(st *pathState) []*dto.LabelPair {
	if e.cur == st {
		return e.base
	}
	e.cur, e.bad = st, false
	e.base = make([]*dto.LabelPair, 0, 1+len(e.extra))
	add := func(name, value string) {
		e.bad = e.bad || !utf8.ValidString(value)
		e.base = append(e.base, &dto.LabelPair{Name: &name, Value: &value})
	}
	if !e.omitPath {
		add("path", st.info.Name)
	}
	for _, n := range e.extra {
		add(n, st.info.Labels[n])
	}
	slices.SortFunc(e.base, byName)
	return e.base
}

func byName(a, b *dto.LabelPair) int { return cmp.Compare(a.GetName(), b.GetName()) }

// path sends one series of f for the path of st; lvs are the values of
// f's own labels, in order.
func (e *emitter) path(f family, st *pathState, v float64, lvs ...string) {
	base := e.pathPairs(st)
	d := e.desc(f)
	if len(f.labels) == 0 {
		e.emit(d, f.typ, v, base, e.bad)
		return
	}
	labels := make([]*dto.LabelPair, 0, len(base)+len(f.labels))
	labels = append(labels, base...)
	bad := e.bad
	for i, name := range f.labels {
		value := lvs[i]
		bad = bad || !utf8.ValidString(value)
		labels = append(labels, &dto.LabelPair{Name: &name, Value: &value})
	}
	slices.SortStableFunc(labels, byName)
	e.emit(d, f.typ, v, labels, bad)
}

func (e *emitter) global(f family, v float64) {
	e.emit(prometheus.NewDesc(f.name, f.help, nil, nil), f.typ, v, nil, false)
}

// emit sends one sample; a label value that is not valid UTF-8 makes it
// an invalid metric, as prometheus.NewConstMetric would.
func (e *emitter) emit(d *prometheus.Desc, t prometheus.ValueType, v float64, labels []*dto.LabelPair, bad bool) {
	if bad {
		e.ch <- prometheus.NewInvalidMetric(d, errInvalidLabelValue)
		return
	}
	e.ch <- &sample{desc: d, typ: t, value: v, labels: labels}
}

// errInvalidLabelValue is the error of a series with a label value that
// is not valid UTF-8.
var errInvalidLabelValue = errors.New("label value is not valid UTF-8")

// sample is one series with its label pairs already sorted by name.
type sample struct {
	desc   *prometheus.Desc
	typ    prometheus.ValueType
	value  float64
	labels []*dto.LabelPair
}

func (s *sample) Desc() *prometheus.Desc { return s.desc }

func (s *sample) Write(m *dto.Metric) error {
	m.Label = s.labels
	v := s.value
	if s.typ == prometheus.CounterValue {
		m.Counter = &dto.Counter{Value: &v}
	} else {
		m.Gauge = &dto.Gauge{Value: &v}
	}
	return nil
}
