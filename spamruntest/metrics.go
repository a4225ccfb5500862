package spamruntest

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one scrape of a Prometheus text endpoint, read by
// Prometheus' own parser, so that a test sees what Prometheus would.
type Metrics map[string]*dto.MetricFamily

// ParseMetrics parses the Prometheus text format.
func ParseMetrics(r io.Reader) (Metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("spamruntest: parsing metrics: %w", err)
	}
	return Metrics(fams), nil
}

// ScrapeMetrics fetches url, as Prometheus does, and parses it.
func ScrapeMetrics(url string) (Metrics, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("spamruntest: scraping %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("spamruntest: scraping %s: %s", url, resp.Status)
	}
	return ParseMetrics(resp.Body)
}

// Value returns the value of the sample of name whose labels are those
// given as "name=value" pairs (others may be present): a counter's or
// gauge's value, a histogram's count. It returns 0 when there is no such
// sample, as Prometheus treats a counter not yet created; Has tells them
// apart.
func (m Metrics) Value(name string, labels ...string) float64 {
	v, _ := m.Has(name, labels...)
	return v
}

// Has is Value, and whether the sample exists.
func (m Metrics) Has(name string, labels ...string) (float64, bool) {
	fam := m[name]
	if fam == nil {
		return 0, false
	}
	for _, metric := range fam.GetMetric() {
		if !hasLabels(metric, labels) {
			continue
		}
		return metricValue(metric), true
	}
	return 0, false
}

// Sum is the sum of a histogram's observations.
func (m Metrics) Sum(name string, labels ...string) float64 {
	for _, metric := range m[name].GetMetric() {
		if metric.Histogram != nil && hasLabels(metric, labels) {
			return metric.Histogram.GetSampleSum()
		}
	}
	return 0
}

// Total sums the samples of name over all its label values.
func (m Metrics) Total(name string) float64 {
	total := 0.0
	for _, metric := range m[name].GetMetric() {
		total += metricValue(metric)
	}
	return total
}

func metricValue(metric *dto.Metric) float64 {
	switch {
	case metric.Counter != nil:
		return metric.Counter.GetValue()
	case metric.Gauge != nil:
		return metric.Gauge.GetValue()
	case metric.Histogram != nil:
		return float64(metric.Histogram.GetSampleCount())
	}
	return metric.GetUntyped().GetValue()
}

func hasLabels(metric *dto.Metric, want []string) bool {
	have := make(map[string]string, len(metric.GetLabel()))
	for _, l := range metric.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for _, kv := range want {
		k, v, _ := strings.Cut(kv, "=")
		if have[k] != v {
			return false
		}
	}
	return true
}
