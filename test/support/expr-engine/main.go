// expr-eval: Argo Rollouts' condition evaluation, for rollgate's tests.
//
// It reads one JSON request per line on stdin and writes one JSON answer per line on stdout:
//
//	{"successCondition": "...", "failureCondition": "...", "result": {"kind": "cloudWatch", ...}}
//	-> {"phase": "Successful" | "Failed" | "Inconclusive" | "Error", "error": "...",
//	    "success": true|false|null, "failure": true|false|null}
//
// The evaluation follows argo-rollouts utils/evaluate/evaluate.go (commit 9f8d111, 2026-08-17):
// EvalCondition builds the same environment (result, asInt, asFloat, isNaN, isInf, isNil, default;
// lines 116-152) and EvaluateResult decides the phase from the two conditions (lines 18-58).
// The expression engine is Debian's golang-github-antonmedv-expr-dev (expr 1.8.9, the package's
// pre-rename import path); Argo pins github.com/expr-lang/expr v1.17.8. Everything the rendered
// conditions use (len, indexing, field access, comparisons, &&, ||, !, function calls from the
// environment) behaves the same in both; the tests say which differences they rely on not existing.
//
// Results are typed as the providers hand them to EvaluateResult:
//   - cloudWatch: []MetricDataResult with the AWS SDK v2 field names and types (Id and Label *string,
//     StatusCode a string type, Timestamps []time.Time, Values []float64), metricproviders/cloudwatch
//     /cloudwatch.go line 94 passes result.MetricDataResults; a nil list stays a typed nil slice.
//   - vector / matrix: []float64 (metricproviders/prometheus/prometheus.go lines 163-184), never nil.
//   - scalar: float64 (prometheus.go lines 158-162).
//   - json: any decoded JSON value (the web provider's jsonPath result).
//   - nil: an untyped nil.
// Numbers are sent as strings so NaN and +/-Inf survive JSON ("NaN", "+Inf", "-Inf", "1.5").
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"strconv"
	"time"

	"github.com/antonmedv/expr"
	"github.com/antonmedv/expr/file"
)

// StatusCode mirrors types.StatusCode of aws-sdk-go-v2/service/cloudwatch.
type StatusCode string

// MessageData mirrors types.MessageData.
type MessageData struct {
	Code  *string
	Value *string
}

// MetricDataResult mirrors types.MetricDataResult (same field names and types).
type MetricDataResult struct {
	Id         *string
	Label      *string
	Messages   []MessageData
	StatusCode StatusCode
	Timestamps []time.Time
	Values     []float64
}

type cwSeries struct {
	Id         string   `json:"id"`
	Label      *string  `json:"label"`
	StatusCode string   `json:"statusCode"`
	Values     []string `json:"values"`
}

type resultSpec struct {
	Kind    string          `json:"kind"`
	Series  []cwSeries      `json:"series"`
	Nil     bool            `json:"nil"`
	Values  []string        `json:"values"`
	Value   string          `json:"value"`
	JSON    json.RawMessage `json:"json"`
}

type request struct {
	SuccessCondition string     `json:"successCondition"`
	FailureCondition string     `json:"failureCondition"`
	Result           resultSpec `json:"result"`
}

type answer struct {
	Phase   string `json:"phase"`
	Error   string `json:"error,omitempty"`
	Success *bool  `json:"success"`
	Failure *bool  `json:"failure"`
}

func parseFloats(xs []string) ([]float64, error) {
	out := make([]float64, 0, len(xs))
	for _, x := range xs {
		f, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %q: %v", x, err)
		}
		out = append(out, f)
	}
	return out, nil
}

func buildResult(s resultSpec) (interface{}, error) {
	switch s.Kind {
	case "cloudWatch":
		if s.Nil {
			var none []MetricDataResult
			return none, nil
		}
		out := make([]MetricDataResult, 0, len(s.Series))
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for _, series := range s.Series {
			values, err := parseFloats(series.Values)
			if err != nil {
				return nil, err
			}
			stamps := make([]time.Time, len(values))
			for i := range values {
				// Newest first, one minute apart, as GetMetricData's default TimestampDescending.
				stamps[i] = base.Add(-time.Duration(i) * time.Minute)
			}
			id := series.Id
			status := series.StatusCode
			if status == "" {
				status = "Complete"
			}
			out = append(out, MetricDataResult{Id: &id, Label: series.Label, StatusCode: StatusCode(status), Timestamps: stamps, Values: values})
		}
		return out, nil
	case "vector", "matrix":
		values, err := parseFloats(s.Values)
		if err != nil {
			return nil, err
		}
		return values, nil
	case "scalar":
		f, err := strconv.ParseFloat(s.Value, 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %q: %v", s.Value, err)
		}
		return f, nil
	case "json":
		var v interface{}
		if err := json.Unmarshal(s.JSON, &v); err != nil {
			return nil, err
		}
		return v, nil
	case "nil":
		return nil, nil
	}
	return nil, fmt.Errorf("unknown result kind %q", s.Kind)
}

// --- utils/evaluate/evaluate.go, the parts the conditions reach -------------------------------

func evaluateResult(result interface{}, successCondition, failureCondition string) answer {
	successOK := false
	failOK := false
	var a answer
	var err error
	if successCondition != "" {
		successOK, err = evalCondition(result, successCondition)
		if err != nil {
			return answer{Phase: "Error", Error: "successCondition: " + err.Error()}
		}
		v := successOK
		a.Success = &v
	}
	if failureCondition != "" {
		failOK, err = evalCondition(result, failureCondition)
		if err != nil {
			return answer{Phase: "Error", Error: "failureCondition: " + err.Error(), Success: a.Success}
		}
		v := failOK
		a.Failure = &v
	}
	switch {
	case successCondition == "" && failureCondition == "":
		a.Phase = "Successful"
		return a
	case successCondition != "" && failureCondition == "":
		failOK = !successOK
	case successCondition == "" && failureCondition != "":
		successOK = !failOK
	}
	if failOK {
		a.Phase = "Failed"
	} else if !successOK {
		a.Phase = "Inconclusive"
	} else {
		a.Phase = "Successful"
	}
	return a
}

func evalCondition(resultValue interface{}, condition string) (ok bool, err error) {
	// asInt/asFloat panic on bad input in Argo; expr turns a panic in a called function into an
	// error in 1.17 and may not in 1.8.9, so a panic here is reported as the evaluation error it is.
	defer func() {
		if r := recover(); r != nil {
			ok, err = false, fmt.Errorf("panic: %v", r)
		}
	}()
	env := map[string]interface{}{
		"result":  valueFromPointer(resultValue),
		"asInt":   asInt,
		"asFloat": asFloat,
		"isNaN":   math.IsNaN,
		"isInf":   isInf,
		"isNil":   isNilFunc(resultValue),
		"default": defaultFunc(resultValue),
	}
	unwrap := func(e error) error {
		var fe *file.Error
		if errors.As(e, &fe) {
			return errors.New(fe.Message)
		}
		return e
	}
	program, err := expr.Compile(condition, expr.Env(env))
	if err != nil {
		return false, unwrap(err)
	}
	output, err := expr.Run(program, env)
	if err != nil {
		return false, unwrap(err)
	}
	switch val := output.(type) {
	case bool:
		return val, nil
	default:
		return false, fmt.Errorf("expected bool, but got %T", val)
	}
}

func isInf(f float64) bool { return math.IsInf(f, 0) }

func asInt(in interface{}) int64 {
	switch i := in.(type) {
	case float64:
		return int64(i)
	case int:
		return int64(i)
	case int64:
		return i
	case string:
		v, err := strconv.ParseInt(i, 10, 64)
		if err == nil {
			return v
		}
		panic(err)
	}
	panic(fmt.Sprintf("asInt() not supported on %v %v", reflect.TypeOf(in), in))
}

func asFloat(in interface{}) float64 {
	switch i := in.(type) {
	case float64:
		return i
	case int:
		return float64(i)
	case int64:
		return float64(i)
	case string:
		v, err := strconv.ParseFloat(i, 64)
		if err == nil {
			return v
		}
		panic(err)
	}
	panic(fmt.Sprintf("asFloat() not supported on %v %v", reflect.TypeOf(in), in))
}

func defaultFunc(resultValue interface{}) func(interface{}, interface{}) interface{} {
	return func(_ interface{}, defaultValue interface{}) interface{} {
		if isNil(resultValue) {
			return defaultValue
		}
		return valueFromPointer(resultValue)
	}
}

func isNilFunc(resultValue interface{}) func(interface{}) bool {
	return func(_ interface{}) bool { return isNil(resultValue) }
}

func isNil(in interface{}) bool {
	if in == nil {
		return true
	}
	switch reflect.TypeOf(in).Kind() {
	case reflect.Ptr, reflect.Map, reflect.Array, reflect.Chan, reflect.Slice:
		return reflect.ValueOf(in).IsNil()
	}
	return false
}

func valueFromPointer(in interface{}) interface{} {
	if isNil(in) {
		return nil
	}
	if reflect.TypeOf(in).Kind() != reflect.Ptr {
		return in
	}
	return reflect.ValueOf(in).Elem().Interface()
}

func main() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 16<<20)
	out := bufio.NewWriter(os.Stdout)
	enc := json.NewEncoder(out)
	for in.Scan() {
		var req request
		var a answer
		if err := json.Unmarshal(in.Bytes(), &req); err != nil {
			a = answer{Phase: "Error", Error: "bad request: " + err.Error()}
		} else if result, err := buildResult(req.Result); err != nil {
			a = answer{Phase: "Error", Error: "bad result: " + err.Error()}
		} else {
			a = evaluateResult(result, req.SuccessCondition, req.FailureCondition)
		}
		if err := enc.Encode(a); err != nil {
			os.Exit(2)
		}
		out.Flush()
	}
}
