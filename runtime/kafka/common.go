package kafka

import (
	"reflect"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	apiVersionsKey         int16 = 18
	codeUnsupportedVersion       = 35
)

// versionRange is the versions of one API this server speaks.
type versionRange struct{ min, max int16 }

// versions is what ApiVersions advertises. Floors: record batches v2
// (Produce 3, Fetch 4) and offsets in Kafka's own storage (OffsetCommit 2,
// OffsetFetch 1); ceilings: before topic ids replace names in Fetch (13),
// Produce (13) and the KIP-848 member epochs in OffsetCommit (9).
var versions = map[int16]versionRange{
	0:  {3, 11}, // Produce
	1:  {4, 12}, // Fetch
	2:  {1, 8},  // ListOffsets
	3:  {0, 12}, // Metadata
	8:  {2, 8},  // OffsetCommit
	9:  {1, 8},  // OffsetFetch
	10: {0, 4},  // FindCoordinator
	11: {0, 9},  // JoinGroup
	12: {0, 4},  // Heartbeat
	13: {0, 5},  // LeaveGroup
	14: {0, 5},  // SyncGroup
	15: {0, 5},  // DescribeGroups
	16: {0, 4},  // ListGroups
	17: {0, 1},  // SaslHandshake: v0 (raw tokens) is advertised, as librdkafka requires, but refused
	18: {0, 3},  // ApiVersions
	19: {2, 7},  // CreateTopics
	20: {1, 5},  // DeleteTopics
	22: {0, 4},  // InitProducerID
	32: {1, 4},  // DescribeConfigs
	36: {0, 2},  // SaslAuthenticate
	37: {0, 3},  // CreatePartitions
	42: {0, 2},  // DeleteGroups
	60: {0, 1},  // DescribeCluster
}

// apiVersionsResponse lists versions at the given response version.
func apiVersionsResponse(version int16) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(version)
	for _, key := range sortedKeys() {
		vr := versions[key]
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = key, vr.min, vr.max
		resp.ApiKeys = append(resp.ApiKeys, k)
	}
	return resp
}

func sortedKeys() []int16 {
	out := make([]int16, 0, len(versions))
	for k := range int16(100) {
		if _, ok := versions[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

// handle starts one request and returns its answer's thunk.
func (s *Server) handle(cn *conn, req kmsg.Request) func() kmsg.Response {
	switch r := req.(type) {
	case *kmsg.ApiVersionsRequest:
		resp := apiVersionsResponse(r.Version)
		return func() kmsg.Response { return resp }
	case *kmsg.ProduceRequest:
		return s.produce(cn, r)
	case *kmsg.FetchRequest:
		return s.fetch(cn, r)
	case *kmsg.MetadataRequest:
		return now(s.metadata(cn.ctx, r))
	case *kmsg.InitProducerIDRequest:
		return now(s.initProducerID(cn.ctx, r))
	}
	if f := s.admin(cn, req); f != nil {
		return f
	}
	if f := s.groups.handle(cn.ctx, req); f != nil {
		return f
	}
	// Every advertised API has a handler; reaching here is a bug.
	resp := req.ResponseKind()
	return func() kmsg.Response { return resp }
}

// now wraps an answer computed at once.
func now(resp kmsg.Response) func() kmsg.Response {
	return func() kmsg.Response { return resp }
}

// metrics are the braid_kafka_* series.
type metrics struct {
	requests     *prometheus.CounterVec
	errors       *prometheus.CounterVec
	seconds      *prometheus.HistogramVec
	connections  prometheus.Gauge
	records      *prometheus.CounterVec
	authFailures *prometheus.CounterVec
	readAhead    *prometheus.CounterVec
	longPolls    prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "braid_kafka_requests_total",
			Help: "Kafka protocol requests answered, by API."}, []string{"api"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "braid_kafka_request_errors_total",
			Help: "Kafka protocol answers carrying an error code, by API."}, []string{"api"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "braid_kafka_request_seconds",
			Help:    "Kafka protocol request latency (decoded to answered), by API.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5}}, []string{"api"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "braid_kafka_connections",
			Help: "Open Kafka protocol connections."}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "braid_kafka_records_total",
			Help: "Records produced and fetched over the Kafka protocol."}, []string{"direction"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "braid_kafka_auth_failures_total",
			Help: "Failed Kafka authentications, by SASL mechanism (none: a request before authenticating; unsupported: an unknown mechanism)."}, []string{"mechanism"}),
		readAhead: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "braid_kafka_fetch_read_ahead_total",
			Help: "Fetches that found an answer read ahead for them: used (the consumer continued where its last answer ended) or discarded (it asked for other offsets)."}, []string{"result"}),
		longPolls: prometheus.NewGauge(prometheus.GaugeOpts{Name: "braid_kafka_fetch_long_polls",
			Help: "Fetches waiting for records now (long polls up to the client's max wait)."}),
	}
	if reg != nil {
		// A second server in one process (tests, a restart in place)
		// shares the series already registered.
		m.requests = register(reg, m.requests)
		m.errors = register(reg, m.errors)
		m.seconds = register(reg, m.seconds)
		m.connections = register(reg, m.connections)
		m.records = register(reg, m.records)
		m.authFailures = register(reg, m.authFailures)
		m.readAhead = register(reg, m.readAhead)
		m.longPolls = register(reg, m.longPolls)
	}
	return m
}

// register registers c, or returns the collector registered before it.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

func (m *metrics) observe(key int16, start time.Time, resp kmsg.Response) {
	api := kmsg.NameForKey(key)
	if api == "" {
		api = strconv.Itoa(int(key))
	}
	m.requests.WithLabelValues(api).Inc()
	m.seconds.WithLabelValues(api).Observe(time.Since(start).Seconds())
	if resp != nil && hasError(resp) {
		m.errors.WithLabelValues(api).Inc()
	}
}

// hasError reports whether any ErrorCode field in the answer is non-zero.
func hasError(resp kmsg.Response) bool {
	return walkError(reflect.ValueOf(resp), 0)
}

func walkError(v reflect.Value, depth int) bool {
	if depth > 6 {
		return false
	}
	switch v.Kind() {
	case reflect.Pointer:
		return !v.IsNil() && walkError(v.Elem(), depth)
	case reflect.Struct:
		t := v.Type()
		for i := range v.NumField() {
			f := v.Field(i)
			if t.Field(i).Name == "ErrorCode" && f.Kind() == reflect.Int16 {
				if f.Int() != 0 {
					return true
				}
				continue
			}
			if (f.Kind() == reflect.Slice || f.Kind() == reflect.Struct) && walkError(f, depth+1) {
				return true
			}
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return false
		}
		for i := range min(v.Len(), 64) {
			if walkError(v.Index(i), depth+1) {
				return true
			}
		}
	}
	return false
}

// code returns err's Kafka error code (UNKNOWN_SERVER_ERROR when it is not one).
func code(err error) int16 {
	if err == nil {
		return 0
	}
	if ke, ok := err.(*kerr.Error); ok {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}
