// Package otlpfile reads what the OpenTelemetry Collector's file exporter
// writes: one OTLP/JSON export request per line (traces or metrics), flattened
// into spans and metric data points with their resource's attributes.
package otlpfile

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

// Span is one span as the collector received it (ids in hex).
type Span struct {
	TraceID      string
	SpanID       string
	ParentSpanID string
	Name         string
	Kind         int
	StatusCode   int
	Attributes   map[string]string
	Resource     map[string]string
}

// Point is one data point of a metric.
type Point struct {
	Metric     string
	Attributes map[string]string
	Resource   map[string]string
	// Value is a sum's value or a histogram's count.
	Value float64
}

type keyValue struct {
	Key   string `json:"key"`
	Value struct {
		String *string          `json:"stringValue"`
		Int    *json.RawMessage `json:"intValue"`
		Double *float64         `json:"doubleValue"`
		Bool   *bool            `json:"boolValue"`
	} `json:"value"`
}

func attributes(list []keyValue) map[string]string {
	out := map[string]string{}
	for _, kv := range list {
		switch v := kv.Value; {
		case v.String != nil:
			out[kv.Key] = *v.String
		case v.Int != nil:
			out[kv.Key] = string(bytes.Trim(*v.Int, `"`))
		case v.Double != nil:
			out[kv.Key] = fmt.Sprint(*v.Double)
		case v.Bool != nil:
			out[kv.Key] = fmt.Sprint(*v.Bool)
		}
	}
	return out
}

type resource struct {
	Attributes []keyValue `json:"attributes"`
}

type traceLine struct {
	ResourceSpans []struct {
		Resource   resource `json:"resource"`
		ScopeSpans []struct {
			Spans []struct {
				TraceID      string     `json:"traceId"`
				SpanID       string     `json:"spanId"`
				ParentSpanID string     `json:"parentSpanId"`
				Name         string     `json:"name"`
				Kind         int        `json:"kind"`
				Attributes   []keyValue `json:"attributes"`
				Status       struct {
					Code int `json:"code"`
				} `json:"status"`
			} `json:"spans"`
		} `json:"scopeSpans"`
	} `json:"resourceSpans"`
}

type dataPoint struct {
	Attributes []keyValue       `json:"attributes"`
	AsInt      *json.RawMessage `json:"asInt"`
	AsDouble   *float64         `json:"asDouble"`
	Count      *json.RawMessage `json:"count"`
}

type metricLine struct {
	ResourceMetrics []struct {
		Resource     resource `json:"resource"`
		ScopeMetrics []struct {
			Metrics []struct {
				Name      string                            `json:"name"`
				Sum       *struct{ DataPoints []dataPoint } `json:"sum"`
				Histogram *struct{ DataPoints []dataPoint } `json:"histogram"`
			} `json:"metrics"`
		} `json:"scopeMetrics"`
	} `json:"resourceMetrics"`
}

func lines(path string, each func([]byte) error) error {
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	scanner := bufio.NewScanner(bytes.NewReader(data))
	scanner.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for scanner.Scan() {
		if len(bytes.TrimSpace(scanner.Bytes())) == 0 {
			continue
		}
		if err := each(scanner.Bytes()); err != nil {
			return err
		}
	}
	return scanner.Err()
}

// Spans reads every span in the file at path (none if it does not exist yet).
func Spans(path string) ([]Span, error) {
	var spans []Span
	err := lines(path, func(line []byte) error {
		var parsed traceLine
		if err := json.Unmarshal(line, &parsed); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, rs := range parsed.ResourceSpans {
			res := attributes(rs.Resource.Attributes)
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					spans = append(spans, Span{TraceID: s.TraceID, SpanID: s.SpanID, ParentSpanID: s.ParentSpanID,
						Name: s.Name, Kind: s.Kind, StatusCode: s.Status.Code, Attributes: attributes(s.Attributes), Resource: res})
				}
			}
		}
		return nil
	})
	return spans, err
}

func number(raw *json.RawMessage) float64 {
	var v float64
	_, _ = fmt.Sscan(string(bytes.Trim(*raw, `"`)), &v)
	return v
}

// Points reads every data point of sums and histograms in the file at path.
func Points(path string) ([]Point, error) {
	var points []Point
	err := lines(path, func(line []byte) error {
		var parsed metricLine
		if err := json.Unmarshal(line, &parsed); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, rm := range parsed.ResourceMetrics {
			res := attributes(rm.Resource.Attributes)
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					var dps []dataPoint
					if m.Sum != nil {
						dps = m.Sum.DataPoints
					}
					if m.Histogram != nil {
						dps = m.Histogram.DataPoints
					}
					for _, dp := range dps {
						p := Point{Metric: m.Name, Attributes: attributes(dp.Attributes), Resource: res}
						switch {
						case dp.AsInt != nil:
							p.Value = number(dp.AsInt)
						case dp.AsDouble != nil:
							p.Value = *dp.AsDouble
						case dp.Count != nil:
							p.Value = number(dp.Count)
						}
						points = append(points, p)
					}
				}
			}
		}
		return nil
	})
	return points, err
}
